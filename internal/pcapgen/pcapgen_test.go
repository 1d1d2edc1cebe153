package pcapgen

import (
	"bytes"
	"encoding/binary"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/microbatch-go/microbatch/internal/testtool"
)

// The IPv4 header checksum of the worked example in Wikipedia's "IPv4
// header checksum" article.
func TestChecksumVector(t *testing.T) {
	h := []byte{0x45, 0x00, 0x00, 0x73, 0x00, 0x00, 0x40, 0x00, 0x40, 0x11, 0x00, 0x00, 0xc0, 0xa8, 0x00, 0x01, 0xc0, 0xa8, 0x00, 0xc7}
	if got := checksum(h, 0); got != 0xb861 {
		t.Fatalf("checksum = %#04x, want 0xb861", got)
	}
}

func TestFrameLayout(t *testing.T) {
	p := Packet{Src: netip.MustParseAddr("192.0.2.1"), Dst: netip.MustParseAddr("198.51.100.2"), Proto: ProtoUDP, SrcPort: 53, DstPort: 40000, Payload: []byte("abc")}
	f, err := Frame(p)
	if err != nil {
		t.Fatal(err)
	}
	if len(f) != 14+20+8+3 {
		t.Fatalf("frame is %d bytes", len(f))
	}
	ip := f[14:34]
	if checksum(ip, 0) != 0 {
		t.Error("IPv4 header does not sum to zero")
	}
	if got := binary.BigEndian.Uint16(f[34:]); got != 53 {
		t.Errorf("source port %d", got)
	}
	if _, err := Frame(Packet{Src: netip.MustParseAddr("::1"), Dst: netip.MustParseAddr("::1"), Proto: ProtoUDP}); err == nil {
		t.Error("IPv6 accepted")
	}
	if _, err := Frame(Packet{Src: p.Src, Dst: p.Dst, Proto: 47}); err == nil {
		t.Error("GRE accepted")
	}
}

// tshark, an independent dissector, reads our capture: every packet where
// we put it, with good IP, TCP and UDP checksums.
func TestTsharkReadsCapture(t *testing.T) {
	tshark := testtool.Require(t, "tshark", "Debian package tshark")
	var buf bytes.Buffer
	w, err := NewWriter(&buf)
	if err != nil {
		t.Fatal(err)
	}
	at := time.Date(2016, 8, 17, 10, 58, 3, 250000000, time.UTC)
	a, b := netip.MustParseAddr("10.1.1.23"), netip.MustParseAddr("198.51.100.10")
	pkts := []Packet{
		{Time: at, Src: a, Dst: b, Proto: ProtoTCP, SrcPort: 51234, DstPort: 443, Flags: SYN},
		{Time: at.Add(time.Second), Src: a, Dst: b, Proto: ProtoTCP, SrcPort: 51234, DstPort: 443, Flags: ACK | PSH, Payload: []byte("hello")},
		{Time: at.Add(2 * time.Second), Src: b, Dst: a, Proto: ProtoUDP, SrcPort: 53, DstPort: 5353, Payload: []byte("xyz")},
		{Time: at.Add(3 * time.Second), Src: b, Dst: a, Proto: ProtoICMP, DstPort: 8 << 8},
	}
	for _, p := range pkts {
		if err := w.Write(p); err != nil {
			t.Fatal(err)
		}
	}
	path := filepath.Join(t.TempDir(), "x.pcap")
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(tshark, "-r", path, "-o", "ip.check_checksum:TRUE", "-o", "tcp.check_checksum:TRUE", "-o", "udp.check_checksum:TRUE",
		"-T", "fields", "-E", "separator=,", "-e", "frame.time_epoch", "-e", "ip.src", "-e", "ip.dst", "-e", "ip.checksum.status",
		"-e", "tcp.srcport", "-e", "tcp.flags", "-e", "tcp.checksum.status", "-e", "udp.dstport", "-e", "udp.checksum.status", "-e", "icmp.type")
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("tshark: %v", err)
	}
	want := []string{
		"1471431483.250000000,10.1.1.23,198.51.100.10,1,51234,0x0002,1,,,",
		"1471431484.250000000,10.1.1.23,198.51.100.10,1,51234,0x0018,1,,,",
		"1471431485.250000000,198.51.100.10,10.1.1.23,1,,,,5353,1,",
		"1471431486.250000000,198.51.100.10,10.1.1.23,1,,,,,,8",
	}
	got := strings.Split(strings.TrimSpace(string(out)), "\n")
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("tshark read\n%s\nwant (checksum status 1 = good, 0 = bad, 2 = unverified)\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}
