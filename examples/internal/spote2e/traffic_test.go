package spote2e

import (
	"fmt"
	"math/rand/v2"
	"net/netip"
	"strings"
	"testing"
	"time"

	"golang.org/x/net/dns/dnsmessage"

	"github.com/microbatch-go/microbatch/internal/pcapgen"
)

// trafficStart is when the generated traffic begins: a few minutes before
// an hour boundary, so the flows and responses fall in two hours.
var trafficStart = time.Date(2016, 8, 17, 10, 52, 0, 0, time.UTC)

// flow is one generated flow: what nfdump should report for it.
type flow struct {
	start            time.Time
	src, dst         netip.Addr
	sport, dport     uint16 // ICMP: dport = type<<8 | code
	proto            uint8
	packets, ipBytes int
}

// writeFlowCapture writes n flows over about 16 minutes to path, as a
// libpcap file in time order, and returns them.
func writeFlowCapture(t *testing.T, path string, n int) []flow {
	t.Helper()
	rng := rand.New(rand.NewPCG(7, 17))
	span := 16 * time.Minute
	var flows []flow
	var pkts []pcapgen.Packet
	for i := range n {
		f := flow{
			start: trafficStart.Add(time.Duration(rng.Int64N(int64(span)))).Truncate(time.Millisecond),
			src:   netip.AddrFrom4([4]byte{10, 1, byte(i / 250), byte(1 + i%250)}),
			dst:   []netip.Addr{netip.MustParseAddr("198.51.100.10"), netip.MustParseAddr("203.0.113.77"), netip.MustParseAddr("192.0.2.53")}[rng.IntN(3)],
		}
		switch r := rng.IntN(10); {
		case r < 6:
			f.proto, f.sport, f.dport = pcapgen.ProtoTCP, uint16(20000+i), []uint16{443, 80, 22, 25}[rng.IntN(4)]
		case r < 9:
			f.proto, f.sport, f.dport = pcapgen.ProtoUDP, uint16(20000+i), []uint16{53, 123, 514}[rng.IntN(3)]
		default:
			f.proto, f.dport = pcapgen.ProtoICMP, []uint16{8 << 8, 3<<8 | 3, 11 << 8}[rng.IntN(3)]
		}
		f.packets = 1 + rng.IntN(6)
		if f.proto == pcapgen.ProtoICMP {
			f.packets = 1
		}
		at := f.start
		for k := range f.packets {
			p := pcapgen.Packet{Time: at, Src: f.src, Dst: f.dst, Proto: f.proto, SrcPort: f.sport, DstPort: f.dport, Payload: make([]byte, rng.IntN(400))}
			if f.proto == pcapgen.ProtoTCP {
				p.Flags = pcapgen.ACK | pcapgen.PSH
				if k == 0 {
					p.Flags = pcapgen.SYN
				}
			}
			frame, err := pcapgen.Frame(p)
			if err != nil {
				t.Fatal(err)
			}
			f.ipBytes += len(frame) - 14 // nfdump counts IP bytes
			pkts = append(pkts, p)
			at = at.Add(time.Duration(50+rng.IntN(300)) * time.Millisecond)
		}
		flows = append(flows, f)
	}
	writeCapture(t, path, pkts)
	return flows
}

// dnsResponse is one generated DNS response: what the dns table should
// hold for it.
type dnsResponse struct {
	at             time.Time
	server, client netip.Addr
	name           string // without the trailing dot
	qtype          uint16 // 1 (A) or 28 (AAAA); 0 for NXDOMAIN (no answer)
	rcode          int
	a              string // the first A record, "" when none
	frameLen       int
}

// writeDNSCapture writes n queries with their responses over about six
// minutes around the hour to path and returns the responses.
func writeDNSCapture(t *testing.T, path string, n int) []dnsResponse {
	t.Helper()
	rng := rand.New(rand.NewPCG(3, 5))
	server := netip.MustParseAddr("10.0.0.53")
	start := time.Date(2016, 8, 17, 10, 57, 0, 0, time.UTC)
	var out []dnsResponse
	var pkts []pcapgen.Packet
	for i := range n {
		r := dnsResponse{
			at:     start.Add(time.Duration(rng.Int64N(int64(6 * time.Minute)))).Truncate(time.Microsecond),
			server: server,
			client: netip.AddrFrom4([4]byte{10, 1, 2, byte(1 + i%200)}),
			name:   fmt.Sprintf("host%d.%s", i, []string{"example.com", "example.org", "example.net"}[i%3]),
		}
		name := dnsmessage.MustNewName(r.name + ".")
		qt := dnsmessage.TypeA
		if i%5 == 1 {
			qt = dnsmessage.TypeAAAA
		}
		q := dnsmessage.Question{Name: name, Type: qt, Class: dnsmessage.ClassINET}
		msg := dnsmessage.Message{Header: dnsmessage.Header{ID: uint16(i), RecursionDesired: true}, Questions: []dnsmessage.Question{q}}
		query, err := msg.Pack()
		if err != nil {
			t.Fatal(err)
		}
		msg.Header.Response, msg.Header.RecursionAvailable = true, true
		switch {
		case i%7 == 3:
			msg.Header.RCode = dnsmessage.RCodeNameError
			r.rcode = 3
		case qt == dnsmessage.TypeA:
			ip := [4]byte{192, 0, 2, byte(1 + i%250)}
			msg.Answers = []dnsmessage.Resource{{Header: dnsmessage.ResourceHeader{Name: name, Type: qt, Class: dnsmessage.ClassINET, TTL: 300}, Body: &dnsmessage.AResource{A: ip}}}
			r.qtype, r.a = 1, netip.AddrFrom4(ip).String()
		default:
			ip := netip.MustParseAddr(fmt.Sprintf("2001:db8::%x", i)).As16()
			msg.Answers = []dnsmessage.Resource{{Header: dnsmessage.ResourceHeader{Name: name, Type: qt, Class: dnsmessage.ClassINET, TTL: 300}, Body: &dnsmessage.AAAAResource{AAAA: ip}}}
			r.qtype = 28
		}
		resp, err := msg.Pack()
		if err != nil {
			t.Fatal(err)
		}
		sport := uint16(30000 + i)
		qp := pcapgen.Packet{Time: r.at.Add(-time.Millisecond), Src: r.client, Dst: server, Proto: pcapgen.ProtoUDP, SrcPort: sport, DstPort: 53, Payload: query}
		rp := pcapgen.Packet{Time: r.at, Src: server, Dst: r.client, Proto: pcapgen.ProtoUDP, SrcPort: 53, DstPort: sport, Payload: resp}
		frame, err := pcapgen.Frame(rp)
		if err != nil {
			t.Fatal(err)
		}
		r.frameLen = len(frame)
		pkts = append(pkts, qp, rp)
		out = append(out, r)
	}
	writeCapture(t, path, pkts)
	return out
}

func writeCapture(t *testing.T, path string, pkts []pcapgen.Packet) {
	t.Helper()
	if err := pcapgen.WriteFile(path, pkts); err != nil {
		t.Fatal(err)
	}
}

// proxyEntry is one generated Bluecoat log line and the values the proxy
// table should hold for it.
type proxyEntry struct {
	line                         string
	date, time                   string
	clientip, host, respcode     string
	uripath, uriquery, useragent string
	duration, scbytes, csbytes   int
	y, m, d, h                   string
}

// proxyLog returns a Bluecoat access log (with its two header lines) of n
// entries around the hour, and the entries.
func proxyLog(n int) (string, []proxyEntry) {
	rng := rand.New(rand.NewPCG(11, 13))
	start := time.Date(2016, 8, 17, 10, 55, 0, 0, time.UTC)
	var b strings.Builder
	b.WriteString("#Software: SGOS 6.5.4.4\n")
	b.WriteString("#Fields: date time time-taken c-ip cs-username cs-auth-group x-exception-id sc-filter-result cs-categories cs(Referer) sc-status s-action cs-method rs(Content-Type) cs-uri-scheme cs-host cs-uri-port cs-uri-path cs-uri-query cs-uri-extension cs(User-Agent) s-ip sc-bytes cs-bytes x-virus-id x-bluecoat-application-name x-bluecoat-application-operation\n")
	var out []proxyEntry
	agents := []string{`"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36"`, `"curl/7.88.1"`, `-`}
	for i := range n {
		at := start.Add(time.Duration(rng.Int64N(int64(10 * time.Minute)))).Truncate(time.Second)
		e := proxyEntry{
			date: at.Format("2006-01-02"), time: at.Format("15:04:05"),
			clientip: fmt.Sprintf("10.1.3.%d", 1+i%200),
			host:     fmt.Sprintf("www%d.example.com", i%17),
			respcode: []string{"200", "304", "404", "503"}[rng.IntN(4)],
			uripath:  []string{"/", "/index.html", "/img/logo.png", fmt.Sprintf("/a/b/%d", i)}[rng.IntN(4)],
			uriquery: []string{"-", "?q=1", fmt.Sprintf("?id=%d&x=y", i)}[rng.IntN(3)],
			duration: rng.IntN(5000), scbytes: rng.IntN(100000), csbytes: rng.IntN(2000),
			y: at.Format("2006"), m: at.Format("01"), d: at.Format("02"), h: at.Format("15"),
		}
		agent := agents[rng.IntN(len(agents))]
		e.useragent = strings.Trim(agent, `"`)
		e.line = fmt.Sprintf(`%s %s %d %s - - - OBSERVED "Technology/Internet;Web Ads/Analytics" - %s TCP_NC_MISS GET text/html http %s 80 %s %s - %s 198.51.100.80 %d %d - "none" "none"`,
			e.date, e.time, e.duration, e.clientip, e.respcode, e.host, e.uripath, e.uriquery, agent, e.scbytes, e.csbytes)
		b.WriteString(e.line + "\n")
		out = append(out, e)
	}
	return b.String(), out
}

// fullURI is Spot's computed column: host, path and query, leaving out a
// path or query that is a single character (like "-").
func (e proxyEntry) fullURI() string {
	s := e.host
	if len(e.uripath) > 1 {
		s += e.uripath
	}
	if len(e.uriquery) > 1 {
		s += e.uriquery
	}
	return s
}
