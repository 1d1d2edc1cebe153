package kudu

import (
	"bytes"
	"encoding/binary"
	"testing"
	"time"

	"github.com/jcmturner/gokrb5/v8/gssapi"
	"github.com/jcmturner/gokrb5/v8/iana/keyusage"
	"github.com/jcmturner/gokrb5/v8/types"
)

// seedFrames returns valid response frames for the fuzzers' corpora.
func seedFrames() [][]byte {
	fc := &fakeCluster{tablets: []fakeTablet{{id: "t0", end: []byte{0, 0, 0, 1}}, {id: "t1", start: []byte{0, 0, 0, 1}, leader: 1}},
		ts: []*fakeServer{{addr: "127.0.0.1:7050"}, {addr: "127.0.0.1:7051"}}}
	bodies := [][]byte{
		fc.schemaResponse(),
		fc.locationsResponse(),
		masterErr(MasterNotTheLeader, "x"),
		tsErr(TServerNotTheLeader, "x"),
		appendFixed64Field(appendMessageField(nil, 2, func(e []byte) []byte {
			e = appendInt32Field(e, 1, 3)
			return appendMessageField(e, 2, func(s []byte) []byte {
				s = appendInt32Field(s, 1, int32(StatusAlreadyPresent))
				return appendStringField(s, 2, "dup")
			})
		}), 3, 99),
		(&negotiatePB{features: []uint64{1, 2}, step: stepNegotiate, mechanisms: []string{"PLAIN"}, authnTypes: []int{1}}).marshal(),
	}
	var out [][]byte
	for i, b := range bodies {
		out = append(out, respFrame(int32(i), false, b))
	}
	out = append(out, respFrame(7, true, errorStatus(RPCErrorServerTooBusy, "busy")))
	return out
}

// FuzzDecodeFrame feeds arbitrary bytes to the frame reader and the
// response decoders: errors are fine, panics are not.
func FuzzDecodeFrame(f *testing.F) {
	for _, s := range seedFrames() {
		f.Add(s)
	}
	f.Add([]byte{0, 0, 0, 5, 0xff})
	f.Add([]byte{0xff, 0xff, 0xff, 0xff})
	f.Fuzz(func(t *testing.T, data []byte) {
		frame, err := readFrame(bytes.NewReader(data))
		if err != nil {
			return
		}
		_, body, err := decodeResponse(frame)
		if err != nil {
			return
		}
		parseNegotiate(body)
		parseWriteResponse(body)
		parseErrorStatus(body)
	})
}

// FuzzWriteResponse fuzzes the WriteResponsePB decoder.
func FuzzWriteResponse(f *testing.F) {
	for _, s := range seedFrames() {
		if _, body, err := decodeResponse(s[4:]); err == nil {
			f.Add(body)
		}
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		w, err := parseWriteResponse(body)
		if err != nil {
			return
		}
		for _, e := range w.rowErrors {
			if e.index < 0 || e.status == nil {
				t.Fatalf("accepted bad per-row error %+v", e)
			}
		}
	})
}

// FuzzMasterResponses fuzzes GetTableSchema, GetTableLocations,
// ConnectToMaster and MasterErrorPB decoding, and using what they return.
func FuzzMasterResponses(f *testing.F) {
	for _, s := range seedFrames() {
		if _, body, err := decodeResponse(s[4:]); err == nil {
			f.Add(body)
		}
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		responseMasterError(body)
		parseConnectToMaster(body)
		locs, err := parseTableLocations(body, time.Unix(0, 0))
		if err == nil {
			var lc locationCache
			lc.insert(locs)
			lc.lookup([]byte{0, 0, 0, 1}, time.Unix(0, 0))
		}
		tbl, err := parseTableSchema(body)
		if err != nil {
			return
		}
		// A decoded schema must be usable: build, encode and route a row.
		s := tbl.Schema()
		op := s.NewOperation(OpUpsert)
		for i := 0; i < s.NumKeyColumns(); i++ {
			c := s.Column(i)
			switch {
			case c.Type.varLen():
				op.SetIndex(i, "k")
			case c.Type == TypeBool:
				op.SetIndex(i, true)
			case c.Type == TypeFloat || c.Type == TypeDouble:
				op.SetIndex(i, 1.0)
			default:
				op.SetIndex(i, 1)
			}
		}
		if op.validate(op.Type, DefaultMaxCellBytes) == nil {
			op.appendRow(nil, nil, op.Type)
			tbl.part.appendPartitionKey(nil, &op.Row)
		}
	})
}

// FuzzNegotiationMessages feeds garbage to what the client decodes of a
// server's negotiation: NegotiatePB with its TLS and Kerberos fields, the
// GSS-API framing and AP-REP, wrap tokens, the security layer offer and
// SASL security layer messages. Errors are fine, panics are not.
func FuzzNegotiationMessages(f *testing.F) {
	session := types.EncryptionKey{KeyType: 18, KeyValue: bytes.Repeat([]byte{1}, 32)}
	subkey := types.EncryptionKey{KeyType: 18, KeyValue: bytes.Repeat([]byte{2}, 32)}
	f.Add(uint8(0), (&negotiatePB{features: []uint64{1, 2, 3}, step: stepNegotiate, mechanisms: []string{"GSSAPI"}, authnTypes: []int{1}}).marshal())
	f.Add(uint8(0), (&negotiatePB{step: stepTLSHandshake, tlsHandshake: []byte{0x16, 3, 3, 0, 1, 0}}).marshal())
	f.Add(uint8(0), (&negotiatePB{step: stepSASLSuccess, channelBindings: []byte("cb"), nonce: []byte("n")}).marshal())
	if tok, err := gssFrame(tokIDAPRep, []byte{0x6f, 0x03, 0x30, 0x01, 0x00}); err == nil {
		f.Add(uint8(1), tok)
	}
	wt := gssapi.WrapToken{Flags: wrapSentByAcceptor | wrapAcceptorSubkey, EC: 12, SndSeqNum: 7, Payload: []byte{layerIntegrity, 0, 1, 0}}
	if err := wt.SetCheckSum(subkey, keyusage.GSSAPI_ACCEPTOR_SEAL); err == nil {
		if tok, err := wt.Marshal(); err == nil {
			f.Add(uint8(2), tok)
			f.Add(uint8(3), tok)
			f.Add(uint8(4), append(binary.BigEndian.AppendUint32(nil, uint32(len(tok))), tok...))
		}
	}
	f.Fuzz(func(t *testing.T, sel uint8, data []byte) {
		g := &gssClient{sessionKey: session, key: subkey, acceptorSubkey: true, layer: layerIntegrity}
		g.auth.CTime = time.Unix(1_700_000_000, 0)
		switch sel % 5 {
		case 0:
			parseNegotiate(data)
		case 1:
			gssUnframe(data)
			g.acceptAPRep(data)
		case 2:
			g.unwrap(data)
		case 3:
			g.securityLayer(data)
		case 4:
			g.saslDecode(data)
		}
	})
}
