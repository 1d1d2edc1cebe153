// Package pcapgen writes packet captures in the classic libpcap format
// (https://wiki.wireshark.org/Development/LibpcapFileFormat) with
// Ethernet, IPv4, TCP, UDP and ICMP headers built here, so that tests can
// feed real capture tools (nfpcapd, tshark) with traffic they know.
package pcapgen

import (
	"encoding/binary"
	"fmt"
	"io"
	"net/netip"
	"os"
	"slices"
	"time"
)

// IP protocol numbers (IANA).
const (
	ProtoICMP = 1
	ProtoTCP  = 6
	ProtoUDP  = 17
)

// TCP flag bits.
const (
	FIN = 0x01
	SYN = 0x02
	RST = 0x04
	PSH = 0x08
	ACK = 0x10
	URG = 0x20
)

// A Packet is one IPv4 packet to write.
type Packet struct {
	Time     time.Time
	Src, Dst netip.Addr
	Proto    uint8
	// SrcPort and DstPort are the TCP or UDP ports. For ICMP, SrcPort is
	// unused and DstPort holds type<<8 | code.
	SrcPort, DstPort uint16
	// Flags are the TCP flags.
	Flags   uint8
	TTL     uint8 // 64 when zero
	TOS     uint8
	Payload []byte
}

// Writer writes packets to a capture file.
type Writer struct {
	w   io.Writer
	err error
}

// NewWriter writes the pcap global header (microsecond timestamps,
// Ethernet link type) to w and returns a Writer for the packets.
func NewWriter(w io.Writer) (*Writer, error) {
	var h [24]byte
	binary.LittleEndian.PutUint32(h[0:], 0xa1b2c3d4)
	binary.LittleEndian.PutUint16(h[4:], 2)
	binary.LittleEndian.PutUint16(h[6:], 4)
	binary.LittleEndian.PutUint32(h[16:], 65535) // snaplen
	binary.LittleEndian.PutUint32(h[20:], 1)     // LINKTYPE_ETHERNET
	if _, err := w.Write(h[:]); err != nil {
		return nil, fmt.Errorf("pcapgen: write header: %w", err)
	}
	return &Writer{w: w}, nil
}

// Frame returns the Ethernet frame of p: its IPv4 packet behind an
// Ethernet II header.
func Frame(p Packet) ([]byte, error) {
	if !p.Src.Is4() || !p.Dst.Is4() {
		return nil, fmt.Errorf("pcapgen: only IPv4 addresses, got %v -> %v", p.Src, p.Dst)
	}
	var l4 []byte
	switch p.Proto {
	case ProtoTCP:
		l4 = make([]byte, 20+len(p.Payload))
		binary.BigEndian.PutUint16(l4[0:], p.SrcPort)
		binary.BigEndian.PutUint16(l4[2:], p.DstPort)
		binary.BigEndian.PutUint32(l4[4:], 1)
		if p.Flags&ACK != 0 {
			binary.BigEndian.PutUint32(l4[8:], 1)
		}
		l4[12] = 5 << 4
		l4[13] = p.Flags
		binary.BigEndian.PutUint16(l4[14:], 65535)
		copy(l4[20:], p.Payload)
	case ProtoUDP:
		l4 = make([]byte, 8+len(p.Payload))
		binary.BigEndian.PutUint16(l4[0:], p.SrcPort)
		binary.BigEndian.PutUint16(l4[2:], p.DstPort)
		binary.BigEndian.PutUint16(l4[4:], uint16(len(l4)))
		copy(l4[8:], p.Payload)
	case ProtoICMP:
		l4 = make([]byte, 8+len(p.Payload))
		l4[0] = byte(p.DstPort >> 8)
		l4[1] = byte(p.DstPort)
		copy(l4[8:], p.Payload)
		binary.BigEndian.PutUint16(l4[2:], checksum(l4, 0))
	default:
		return nil, fmt.Errorf("pcapgen: protocol %d is not supported", p.Proto)
	}
	src, dst := p.Src.As4(), p.Dst.As4()
	if p.Proto == ProtoTCP || p.Proto == ProtoUDP {
		// Pseudo-header sum for the transport checksum.
		var ph [12]byte
		copy(ph[0:], src[:])
		copy(ph[4:], dst[:])
		ph[9] = p.Proto
		binary.BigEndian.PutUint16(ph[10:], uint16(len(l4)))
		sum := checksum(l4, sumBytes(ph[:]))
		if p.Proto == ProtoTCP {
			binary.BigEndian.PutUint16(l4[16:], sum)
		} else {
			if sum == 0 {
				sum = 0xffff
			}
			binary.BigEndian.PutUint16(l4[6:], sum)
		}
	}
	ip := make([]byte, 20)
	ip[0] = 0x45
	ip[1] = p.TOS
	binary.BigEndian.PutUint16(ip[2:], uint16(20+len(l4)))
	ip[6] = 0x40 // don't fragment
	ip[8] = p.TTL
	if ip[8] == 0 {
		ip[8] = 64
	}
	ip[9] = p.Proto
	copy(ip[12:], src[:])
	copy(ip[16:], dst[:])
	binary.BigEndian.PutUint16(ip[10:], checksum(ip, 0))

	frame := make([]byte, 14, 14+len(ip)+len(l4))
	copy(frame[0:], []byte{0x02, 0, 0, 0, 0, 2}) // locally administered MACs
	copy(frame[6:], []byte{0x02, 0, 0, 0, 0, 1})
	binary.BigEndian.PutUint16(frame[12:], 0x0800)
	frame = append(frame, ip...)
	return append(frame, l4...), nil
}

// Write appends p to the capture.
func (w *Writer) Write(p Packet) error {
	if w.err != nil {
		return w.err
	}
	frame, err := Frame(p)
	if err != nil {
		return err
	}
	var rh [16]byte
	binary.LittleEndian.PutUint32(rh[0:], uint32(p.Time.Unix()))
	binary.LittleEndian.PutUint32(rh[4:], uint32(p.Time.Nanosecond()/1000))
	binary.LittleEndian.PutUint32(rh[8:], uint32(len(frame)))
	binary.LittleEndian.PutUint32(rh[12:], uint32(len(frame)))
	if _, err := w.w.Write(rh[:]); err != nil {
		w.err = fmt.Errorf("pcapgen: write record: %w", err)
		return w.err
	}
	if _, err := w.w.Write(frame); err != nil {
		w.err = fmt.Errorf("pcapgen: write record: %w", err)
		return w.err
	}
	return nil
}

func sumBytes(b []byte) uint32 {
	var s uint32
	for i := 0; i+1 < len(b); i += 2 {
		s += uint32(b[i])<<8 | uint32(b[i+1])
	}
	if len(b)%2 == 1 {
		s += uint32(b[len(b)-1]) << 8
	}
	return s
}

func checksum(b []byte, initial uint32) uint16 {
	s := initial + sumBytes(b)
	for s>>16 != 0 {
		s = s&0xffff + s>>16
	}
	return ^uint16(s)
}

// WriteFile writes pkts to a new capture file at path, in time order (a
// stable sort, so packets of the same time keep their order).
func WriteFile(path string, pkts []Packet) error {
	pkts = slices.Clone(pkts)
	slices.SortStableFunc(pkts, func(a, b Packet) int { return a.Time.Compare(b.Time) })
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("pcapgen: %w", err)
	}
	w, err := NewWriter(f)
	if err != nil {
		f.Close()
		return err
	}
	for _, p := range pkts {
		if err := w.Write(p); err != nil {
			f.Close()
			return err
		}
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("pcapgen: %w", err)
	}
	return nil
}
