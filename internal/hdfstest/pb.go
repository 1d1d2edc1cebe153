package hdfstest

import (
	"errors"
	"fmt"
	"reflect"

	// The client registers the descriptors of Hadoop's messages in the
	// global protobuf registry when it is linked in; the test server builds
	// and parses every message from those descriptors with dynamicpb, so it
	// has no generated code of its own.
	_ "github.com/colinmarc/hdfs/v2"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
	"google.golang.org/protobuf/types/dynamicpb"
)

// Full names of the Hadoop messages the server reads or writes.
const (
	pbRPCRequestHeader  = "hadoop.common.RpcRequestHeaderProto"
	pbRPCResponseHeader = "hadoop.common.RpcResponseHeaderProto"
	pbRequestHeader     = "hadoop.common.RequestHeaderProto"
	pbConnectionContext = "hadoop.common.IpcConnectionContextProto"
	pbToken             = "hadoop.common.TokenProto"

	pbFileStatus      = "hadoop.hdfs.HdfsFileStatusProto"
	pbPermission      = "hadoop.hdfs.FsPermissionProto"
	pbExtendedBlock   = "hadoop.hdfs.ExtendedBlockProto"
	pbLocatedBlock    = "hadoop.hdfs.LocatedBlockProto"
	pbLocatedBlocks   = "hadoop.hdfs.LocatedBlocksProto"
	pbDatanodeInfo    = "hadoop.hdfs.DatanodeInfoProto"
	pbDatanodeID      = "hadoop.hdfs.DatanodeIDProto"
	pbServerDefaults  = "hadoop.hdfs.FsServerDefaultsProto"
	pbDirListing      = "hadoop.hdfs.DirectoryListingProto"
	pbContentSummary  = "hadoop.hdfs.ContentSummaryProto"
	pbOpWriteBlock    = "hadoop.hdfs.OpWriteBlockProto"
	pbOpReadBlock     = "hadoop.hdfs.OpReadBlockProto"
	pbOpBlockChecksum = "hadoop.hdfs.OpBlockChecksumProto"
	pbBlockOpResponse = "hadoop.hdfs.BlockOpResponseProto"
	pbPacketHeader    = "hadoop.hdfs.PacketHeaderProto"
	pbPipelineAck     = "hadoop.hdfs.PipelineAckProto"

	pbReadOpChecksumInfo    = "hadoop.hdfs.ReadOpChecksumInfoProto"
	pbChecksum              = "hadoop.hdfs.ChecksumProto"
	pbBlockChecksumResponse = "hadoop.hdfs.OpBlockChecksumResponseProto"
)

// descriptors caches the message descriptors by full name. It is filled
// once at init from the global registry and read-only afterwards.
var descriptors = map[string]protoreflect.MessageDescriptor{}

// errDescriptors is set at init when a message the server needs is not
// in the global registry (the client package was not linked in, or a
// different version names it differently). New returns it.
var errDescriptors error

func init() {
	var missing []string
	for _, name := range neededMessages() {
		d, err := protoregistry.GlobalFiles.FindDescriptorByName(protoreflect.FullName(name))
		if err != nil {
			missing = append(missing, name)
			continue
		}
		md, ok := d.(protoreflect.MessageDescriptor)
		if !ok {
			missing = append(missing, name)
			continue
		}
		descriptors[name] = md
	}
	if len(missing) > 0 {
		errDescriptors = fmt.Errorf("hdfstest: protobuf messages %q are not registered "+
			"(github.com/colinmarc/hdfs/v2 registers them when linked in)", missing)
	}
}

// neededMessages lists every message name the server uses, the constants
// above and the requests and responses of the RPC table.
func neededMessages() []string {
	names := []string{
		pbRPCRequestHeader, pbRPCResponseHeader, pbRequestHeader, pbConnectionContext, pbToken,
		pbRPCSasl, pbRPCSaslAuth,
		pbFileStatus, pbPermission, pbExtendedBlock, pbLocatedBlock, pbLocatedBlocks,
		pbDatanodeInfo, pbDatanodeID, pbServerDefaults, pbDirListing, pbContentSummary,
		pbOpWriteBlock, pbOpReadBlock, pbOpBlockChecksum, pbBlockOpResponse, pbPacketHeader,
		pbPipelineAck, pbReadOpChecksumInfo, pbChecksum, pbBlockChecksumResponse,
	}
	for _, m := range rpcMethods {
		names = append(names, m.req, m.resp)
	}
	return names
}

// newMsg returns an empty message of the named type. The server uses
// only the names of neededMessages, found at init; other names (in tests)
// are looked up in the registry each time. An unknown name is a bug in
// this package.
func newMsg(name string) *dynamicpb.Message {
	d, ok := descriptors[name]
	if !ok {
		found, err := protoregistry.GlobalFiles.FindDescriptorByName(protoreflect.FullName(name))
		if d, ok = found.(protoreflect.MessageDescriptor); err != nil || !ok {
			panic("hdfstest: message " + name + " is not registered")
		}
	}
	return dynamicpb.NewMessage(d)
}

// build returns a message of the named type with the fields set from kv,
// which alternates field names and values. A nil value leaves the field
// unset. Values are converted to the field's kind: Go integers for any
// integer kind, string or []byte for bytes, an enum value's name (or a
// number) for enums, a protoreflect.Message for messages, and a slice of
// any of those for repeated fields.
func build(name string, kv ...any) *dynamicpb.Message {
	m := newMsg(name)
	if len(kv)%2 != 0 {
		panic("hdfstest: build " + name + ": odd number of arguments")
	}
	for i := 0; i < len(kv); i += 2 {
		setField(m, kv[i].(string), kv[i+1])
	}
	return m
}

// field returns the descriptor of m's field name; an unknown name is a
// bug in this package.
func field(m protoreflect.Message, name string) protoreflect.FieldDescriptor {
	fd := m.Descriptor().Fields().ByName(protoreflect.Name(name))
	if fd == nil {
		panic(fmt.Sprintf("hdfstest: %s has no field %s", m.Descriptor().FullName(), name))
	}
	return fd
}

// setField sets m's field name to v, converted as build describes.
func setField(m protoreflect.Message, name string, v any) {
	if v == nil {
		return
	}
	fd := field(m, name)
	if fd.IsList() {
		rv := reflect.ValueOf(v)
		if rv.Kind() != reflect.Slice {
			panic(fmt.Sprintf("hdfstest: repeated field %s set from %T", name, v))
		}
		l := m.Mutable(fd).List()
		for i := range rv.Len() {
			l.Append(scalar(fd, rv.Index(i).Interface()))
		}
		return
	}
	m.Set(fd, scalar(fd, v))
}

// scalar converts one Go value to a value of fd's kind.
func scalar(fd protoreflect.FieldDescriptor, v any) protoreflect.Value {
	switch fd.Kind() {
	case protoreflect.StringKind:
		return protoreflect.ValueOfString(v.(string))
	case protoreflect.BytesKind:
		if s, ok := v.(string); ok {
			return protoreflect.ValueOfBytes([]byte(s))
		}
		return protoreflect.ValueOfBytes(v.([]byte))
	case protoreflect.BoolKind:
		return protoreflect.ValueOfBool(v.(bool))
	case protoreflect.Int32Kind, protoreflect.Sint32Kind, protoreflect.Sfixed32Kind:
		return protoreflect.ValueOfInt32(int32(toInt64(v)))
	case protoreflect.Int64Kind, protoreflect.Sint64Kind, protoreflect.Sfixed64Kind:
		return protoreflect.ValueOfInt64(toInt64(v))
	case protoreflect.Uint32Kind, protoreflect.Fixed32Kind:
		return protoreflect.ValueOfUint32(uint32(toInt64(v)))
	case protoreflect.Uint64Kind, protoreflect.Fixed64Kind:
		return protoreflect.ValueOfUint64(uint64(toInt64(v)))
	case protoreflect.EnumKind:
		if s, ok := v.(string); ok {
			ev := fd.Enum().Values().ByName(protoreflect.Name(s))
			if ev == nil {
				panic(fmt.Sprintf("hdfstest: enum %s has no value %s", fd.Enum().FullName(), s))
			}
			return protoreflect.ValueOfEnum(ev.Number())
		}
		return protoreflect.ValueOfEnum(protoreflect.EnumNumber(toInt64(v)))
	case protoreflect.MessageKind:
		return protoreflect.ValueOfMessage(v.(protoreflect.Message))
	}
	panic(fmt.Sprintf("hdfstest: field %s of kind %v is not supported", fd.FullName(), fd.Kind()))
}

// toInt64 converts any Go integer to int64 (uint64 values wrap).
func toInt64(v any) int64 {
	switch x := v.(type) {
	case int:
		return int64(x)
	case int32:
		return int64(x)
	case int64:
		return x
	case uint32:
		return int64(x)
	case uint64:
		return int64(x)
	case uint16:
		return int64(x)
	case protoreflect.EnumNumber:
		return int64(x)
	}
	panic(fmt.Sprintf("hdfstest: %T is not an integer", v))
}

// has reports whether m's field name is set.
func has(m protoreflect.Message, name string) bool { return m.Has(field(m, name)) }

// getStr returns m's string (or bytes) field name.
func getStr(m protoreflect.Message, name string) string {
	fd := field(m, name)
	if fd.Kind() == protoreflect.BytesKind {
		return string(m.Get(fd).Bytes())
	}
	return m.Get(fd).String()
}

// getBool returns m's bool field name (its default when unset).
func getBool(m protoreflect.Message, name string) bool { return m.Get(field(m, name)).Bool() }

// getUint returns m's unsigned integer field name (its default when
// unset).
func getUint(m protoreflect.Message, name string) uint64 { return m.Get(field(m, name)).Uint() }

// getInt returns m's signed integer or enum field name (its default when
// unset).
func getInt(m protoreflect.Message, name string) int64 {
	fd := field(m, name)
	if fd.Kind() == protoreflect.EnumKind {
		return int64(m.Get(fd).Enum())
	}
	return m.Get(fd).Int()
}

// getMsg returns m's message field name, or nil when it is unset.
func getMsg(m protoreflect.Message, name string) protoreflect.Message {
	fd := field(m, name)
	if !m.Has(fd) {
		return nil
	}
	return m.Get(fd).Message()
}

// parse decodes b as a message of the named type. Like the Java
// implementation it rejects a message whose required fields are missing.
func parse(name string, b []byte) (*dynamicpb.Message, error) {
	m := newMsg(name)
	if err := proto.Unmarshal(b, m); err != nil {
		return nil, fmt.Errorf("decoding %s: %w", name, err)
	}
	return m, nil
}

// marshal encodes m, failing if a required field is missing, so the
// server never sends a message the client would reject.
func marshal(m protoreflect.Message) ([]byte, error) {
	return proto.Marshal(m.Interface())
}

// appendDelimited appends m to b with its varint length in front.
func appendDelimited(b []byte, m protoreflect.Message) ([]byte, error) {
	data, err := marshal(m)
	if err != nil {
		return nil, err
	}
	b = protowire.AppendVarint(b, uint64(len(data)))
	return append(b, data...), nil
}

// errShortMessage is returned when a delimited message runs past the
// end of its frame.
var errShortMessage = errors.New("delimited message runs past the end of the frame")

// nextDelimited splits the varint-delimited message at the start of b
// from the rest.
func nextDelimited(b []byte) (msg, rest []byte, err error) {
	n, k := protowire.ConsumeVarint(b)
	if k < 0 {
		return nil, nil, fmt.Errorf("bad length prefix: %w", protowire.ParseError(k))
	}
	if n > uint64(len(b)-k) {
		return nil, nil, errShortMessage
	}
	return b[k : k+int(n)], b[k+int(n):], nil
}
