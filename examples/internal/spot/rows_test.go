package spot

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// rowsTestLines returns the lines of a testdata file.
func rowsTestLines(t testing.TB, name string) []string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return strings.Split(strings.TrimRight(string(data), "\n"), "\n")
}

// wantColumn checks that err is a *ParseError of type typ naming column
// col ("" for the line as a whole).
func wantColumn(t *testing.T, err error, typ Type, col string) {
	t.Helper()
	var pe *ParseError
	if !errors.As(err, &pe) {
		t.Fatalf("error %v (%T), want a *ParseError", err, err)
	}
	if pe.Type != typ || pe.Column != col {
		t.Fatalf("error %q names %s column %q, want %s column %q", err, pe.Type, pe.Column, typ, col)
	}
	if col != "" && !strings.Contains(err.Error(), col) {
		t.Fatalf("error %q does not name the column %s", err, col)
	}
}

func rowInt32p(v int32) *int32 { return &v }

// Every line of the sample flow records parses; two are checked field by
// field, and every row lands in the hour of its time.
func TestParseFlowSamples(t *testing.T) {
	lines := rowsTestLines(t, "flow_records.csv")
	if len(lines) != 20 {
		t.Fatalf("%d sample lines, want 20", len(lines))
	}
	hours := map[int]int{}
	for i, line := range lines {
		r, err := ParseFlow(line)
		if err != nil {
			t.Fatalf("line %d: %v", i+1, err)
		}
		ts, err := time.ParseInLocation(time.DateTime, r.TReceived, time.UTC)
		if err != nil || r.UnixTstamp != ts.Unix() {
			t.Errorf("line %d: unix_tstamp %d, want %d (%v)", i+1, r.UnixTstamp, ts.Unix(), err)
		}
		if r.Y != ts.Year() || r.M != int(ts.Month()) || r.D != ts.Day() || r.H != ts.Hour() {
			t.Errorf("line %d: partition %d/%d/%d/%d, want the time's %v", i+1, r.Y, r.M, r.D, r.H, ts)
		}
		hours[r.H]++
	}
	if hours[10] != 18 || hours[11] != 2 {
		t.Errorf("rows by hour %v, want 18 at 10 and 2 at 11", hours)
	}

	first, _ := ParseFlow(lines[0])
	want := FlowRow{
		TReceived: "2016-08-17 10:58:03", UnixTstamp: 1471431483,
		TrYear: 2016, TrMonth: 8, TrDay: 17, TrHour: 10, TrMinute: 58, TrSec: 3,
		TDur: 1.524, SIP: "10.1.1.23", DIP: "198.51.100.10", SPort: 51234, DPort: 443,
		Proto: "TCP", Flag: ".AP.SF", Fwd: 0, STos: 0, IPkt: 12, IByt: 4380, OPkt: 0, OByt: 0,
		Input: 2, Output: 3, SAS: 0, DAS: 64496, DTos: 0, Dir: 0, RIP: "10.0.0.1",
		Y: 2016, M: 8, D: 17, H: 10,
	}
	if first != want {
		t.Errorf("line 1:\n got %+v\nwant %+v", first, want)
	}
	if got := FlowTable.Partition(first); !slices.Equal(got, []string{"2016", "8", "17", "10"}) {
		t.Errorf("partition of line 1 = %q", got)
	}

	// ICMP: the destination port is type×256+code, echo request 8/0.
	icmp, _ := ParseFlow(lines[6])
	want = FlowRow{
		TReceived: "2016-08-17 10:58:12", UnixTstamp: 1471431492,
		TrYear: 2016, TrMonth: 8, TrDay: 17, TrHour: 10, TrMinute: 58, TrSec: 12,
		TDur: 3.012, SIP: "10.1.3.5", DIP: "192.0.2.8", SPort: 0, DPort: 2048,
		Proto: "ICMP", Flag: "......", IPkt: 4, IByt: 336,
		Input: 2, Output: 3, DAS: 64500, RIP: "10.0.0.1",
		Y: 2016, M: 8, D: 17, H: 10,
	}
	if icmp != want {
		t.Errorf("line 7:\n got %+v\nwant %+v", icmp, want)
	}

	// The first row of the next hour, minute 0, second 1.
	next, _ := ParseFlow(lines[18])
	if next.TrMinute != 0 || next.TrSec != 1 || next.H != 11 || next.IByt != 3188 || next.DPort != 3389 || next.UnixTstamp != 1471431601 {
		t.Errorf("line 19: %+v", next)
	}
	if got := FlowTable.Partition(next); !slices.Equal(got, []string{"2016", "8", "17", "11"}) {
		t.Errorf("partition of line 19 = %q", got)
	}
}

// flowLine is the first sample line with field i replaced by v.
func flowLine(i int, v string) string {
	f := strings.Split("2016-08-17 10:58:03,2016,8,17,10,58,3,1.524,10.1.1.23,198.51.100.10,51234,443,TCP,.AP.SF,0,0,12,4380,0,0,2,3,0,64496,0,0,10.0.0.1", ",")
	f[i] = v
	return strings.Join(f, ",")
}

func TestParseFlowGoodEdges(t *testing.T) {
	for _, tc := range []struct {
		name string
		line string
		ok   func(FlowRow) bool
	}{
		{"IPv6 addresses", flowLine(9, "2001:db8::1"), func(r FlowRow) bool { return r.DIP == "2001:db8::1" }},
		{"the largest counters", flowLine(17, "9223372036854775807"), func(r FlowRow) bool { return r.IByt == 1<<63-1 }},
		{"port 65535", flowLine(10, "65535"), func(r FlowRow) bool { return r.SPort == 65535 }},
		{"AS 2147483647", flowLine(22, "2147483647"), func(r FlowRow) bool { return r.SAS == 1<<31-1 }},
		{"whole seconds", flowLine(7, "60"), func(r FlowRow) bool { return r.TDur == 60 }},
		{"zero padded day", flowLine(3, "017"), func(r FlowRow) bool { return r.TrDay == 17 }},
		{"leap day", "2016-02-29 23:59:59,2016,2,29,23,59,59,0.000,10.0.0.1,10.0.0.2,1,2,UDP,......,0,0,1,1,0,0,0,0,0,0,0,0,0.0.0.0",
			func(r FlowRow) bool { return r.UnixTstamp == 1456790399 && r.M == 2 && r.D == 29 && r.H == 23 }},
		{"other protocol, other flags", flowLine(12, "GRE"), func(r FlowRow) bool { return r.Proto == "GRE" }},
		{"eight flag characters", flowLine(13, "CEUAPRSF"), func(r FlowRow) bool { return r.Flag == "CEUAPRSF" }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r, err := ParseFlow(tc.line)
			if err != nil {
				t.Fatal(err)
			}
			if !tc.ok(r) {
				t.Fatalf("%q parsed to %+v", tc.line, r)
			}
		})
	}
}

func TestParseFlowErrors(t *testing.T) {
	good := flowLine(0, "2016-08-17 10:58:03")
	for _, tc := range []struct {
		name string
		line string
		col  string // the column the error names; "" for the line
	}{
		{"empty line", "", ""},
		{"26 fields", good[:strings.LastIndexByte(good, ',')], ""},
		{"28 fields", good + ",x", ""},
		{"nfdump's header", "tr,try,trm,trd,trh,trm,trs,td,sa,da,sp,dp,pr,flg,fwd,stos,ipkt,ibyt,opkt,obyt,in,out,sas,das,dtos,dir,ra", "treceived"},
		{"nfdump's summary", "Summary", ""},
		{"nfdump's totals", "flows,bytes,packets,avg_bps,avg_pps,avg_bpp", ""},
		{"time with a T", flowLine(0, "2016-08-17T10:58:03"), "treceived"},
		{"time without seconds", flowLine(0, "2016-08-17 10:58"), "treceived"},
		{"February 30", flowLine(0, "2016-02-30 10:58:03"), "treceived"},
		{"February 29 of 2015", flowLine(0, "2015-02-29 10:58:03"), "treceived"},
		{"month 13", flowLine(0, "2016-13-17 10:58:03"), "treceived"},
		{"hour 24", flowLine(0, "2016-08-17 24:58:03"), "treceived"},
		{"second 60", flowLine(0, "2016-08-17 10:58:60"), "treceived"},
		{"time with a zone", flowLine(0, "2016-08-17 10:58:03Z"), "treceived"},
		{"year not a number", flowLine(1, "20x6"), "tryear"},
		{"year of another time", flowLine(1, "2017"), "tryear"},
		{"month of another time", flowLine(2, "9"), "trmonth"},
		{"month 0", flowLine(2, "0"), "trmonth"},
		{"day of another time", flowLine(3, "18"), "trday"},
		{"hour of another time", flowLine(4, "11"), "trhour"},
		{"hour 24 split", flowLine(4, "24"), "trhour"},
		{"minute of another time", flowLine(5, "59"), "trminute"},
		{"second of another time", flowLine(6, "4"), "trsec"},
		{"negative second", flowLine(6, "-3"), "trsec"},
		{"duration not a number", flowLine(7, "fast"), "tdur"},
		{"negative duration", flowLine(7, "-1.000"), "tdur"},
		{"duration with an exponent", flowLine(7, "1e3"), "tdur"},
		{"duration inf", flowLine(7, "inf"), "tdur"},
		{"duration NaN", flowLine(7, "NaN"), "tdur"},
		{"duration with two dots", flowLine(7, "1.2.3"), "tdur"},
		{"duration a dot", flowLine(7, "."), "tdur"},
		{"empty duration", flowLine(7, ""), "tdur"},
		{"source not an address", flowLine(8, "10.1.1"), "sip"},
		{"destination a name", flowLine(9, "www.example.com"), "dip"},
		{"empty destination", flowLine(9, ""), "dip"},
		{"source port not a number", flowLine(10, "http"), "sport"},
		{"source port with a sign", flowLine(10, "+80"), "sport"},
		{"destination port 65536", flowLine(11, "65536"), "dport"},
		{"destination port negative", flowLine(11, "-1"), "dport"},
		{"destination port with blanks", flowLine(11, " 443"), "dport"},
		{"empty protocol", flowLine(12, ""), "proto"},
		{"empty flags", flowLine(13, ""), "flag"},
		{"fwd 256", flowLine(14, "256"), "fwd"},
		{"tos not a number", flowLine(15, "0x10"), "stos"},
		{"packets not a number", flowLine(16, "12.0"), "ipkt"},
		{"bytes over int64", flowLine(17, "9223372036854775808"), "ibyt"},
		{"bytes over uint64", flowLine(18, "18446744073709551616"), "opkt"},
		{"bytes with 21 digits", flowLine(19, "000000000000000000001"), "obyt"},
		{"empty input interface", flowLine(20, ""), "input"},
		{"output interface over int", flowLine(21, "2147483648"), "output"},
		{"4-byte private AS over int", flowLine(22, "4200000000"), "sas"},
		{"AS negative", flowLine(23, "-64496"), "das"},
		{"dtos 300", flowLine(24, "300"), "dtos"},
		{"direction not a number", flowLine(25, "in"), "dir"},
		{"router not an address", flowLine(26, "router1"), "rip"},
		{"router with a carriage return", flowLine(26, "10.0.0.1\r"), "rip"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r, err := ParseFlow(tc.line)
			if err == nil {
				t.Fatalf("ParseFlow(%q) = %+v, want an error", tc.line, r)
			}
			wantColumn(t, err, Flow, tc.col)
			if r != (FlowRow{}) {
				t.Errorf("a row with the error: %+v", r)
			}
		})
	}
}

// The value in an error is cut short, so a long garbage field does not
// make a long reason.
func TestParseErrorValueIsShort(t *testing.T) {
	_, err := ParseFlow(flowLine(8, strings.Repeat("x", 10000)))
	var pe *ParseError
	if !errors.As(err, &pe) || len(pe.Value) > maxErrValue+3 || len(err.Error()) > 200 {
		t.Fatalf("error %q is too long", err)
	}
}

// The hot path of the flow listener does not allocate.
func TestParseFlowAllocations(t *testing.T) {
	line := flowLine(0, "2016-08-17 10:58:03")
	if n := testing.AllocsPerRun(100, func() {
		if _, err := ParseFlow(line); err != nil {
			t.Fatal(err)
		}
	}); n != 0 {
		t.Errorf("ParseFlow allocates %v times per line, want 0", n)
	}
}

const (
	dnsLine   = "Aug  7, 2016 10:58:03.124456000 UTC,1470567483.124456000,91,10.0.0.53,10.1.1.23,www.example.com,1,0x0001,0,192.0.2.7"
	nxdomLine = "Aug  7, 2016 10:58:04.123456000 UTC,1470567484.123456000,75,10.0.0.53,10.1.1.23,,,,3,"
)

// dnsLineWith is dnsLine with comma-separated field i replaced by v.
func dnsLineWith(i int, v string) string {
	f := strings.Split(dnsLine, ",")
	f[i] = v
	return strings.Join(f, ",")
}

func TestParseDNS(t *testing.T) {
	for _, tc := range []struct {
		name string
		line string
		want DNSRow
	}{
		{"an answer", dnsLine, DNSRow{
			FrameTime: "Aug  7, 2016 10:58:03.124456000 UTC", UnixTstamp: 1470567483, FrameLen: 91,
			IPDst: "10.1.1.23", IPSrc: "10.0.0.53", DNSQryName: "www.example.com", DNSQryClass: "0x0001",
			DNSQryType: rowInt32p(1), DNSQryRcode: 0, DNSA: "192.0.2.7", Y: 2016, M: 8, D: 7, H: 10,
		}},
		{"NXDOMAIN: no name, type, class or address", nxdomLine, DNSRow{
			FrameTime: "Aug  7, 2016 10:58:04.123456000 UTC", UnixTstamp: 1470567484, FrameLen: 75,
			IPDst: "10.1.1.23", IPSrc: "10.0.0.53", DNSQryRcode: 3, Y: 2016, M: 8, D: 7, H: 10,
		}},
		{"a time printed in another zone: the partition is the epoch's hour in UTC", "Dec 31, 2016 23:59:59.999999999 CET,1483225199.999999999,120,192.0.2.53,10.1.1.9,v6.example.org,28,0x00000001,0,", DNSRow{
			FrameTime: "Dec 31, 2016 23:59:59.999999999 CET", UnixTstamp: 1483225199, FrameLen: 120,
			IPDst: "10.1.1.9", IPSrc: "192.0.2.53", DNSQryName: "v6.example.org", DNSQryClass: "0x00000001",
			DNSQryType: rowInt32p(28), Y: 2016, M: 12, D: 31, H: 22,
		}},
		{"over IPv6: no ip.src or ip.dst", "Aug  7, 2016 10:58:05.000000000 UTC,1470567485.000000000,110,,,mail.example.net,15,0x0001,0,", DNSRow{
			FrameTime: "Aug  7, 2016 10:58:05.000000000 UTC", UnixTstamp: 1470567485, FrameLen: 110,
			DNSQryName: "mail.example.net", DNSQryClass: "0x0001", DNSQryType: rowInt32p(15), Y: 2016, M: 8, D: 7, H: 10,
		}},
		{"an epoch without a fraction", dnsLineWith(2, "1470567483"), DNSRow{
			FrameTime: "Aug  7, 2016 10:58:03.124456000 UTC", UnixTstamp: 1470567483, FrameLen: 91,
			IPDst: "10.1.1.23", IPSrc: "10.0.0.53", DNSQryName: "www.example.com", DNSQryClass: "0x0001",
			DNSQryType: rowInt32p(1), DNSA: "192.0.2.7", Y: 2016, M: 8, D: 7, H: 10,
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseDNS(tc.line)
			if err != nil {
				t.Fatal(err)
			}
			if !equalDNS(got, tc.want) {
				t.Fatalf("\n got %s\nwant %s", fmtDNS(got), fmtDNS(tc.want))
			}
		})
	}
	r, _ := ParseDNS(dnsLine)
	if got := DNSTable.Partition(r); !slices.Equal(got, []string{"2016", "8", "7", "10"}) {
		t.Errorf("partition %q", got)
	}
}

func equalDNS(a, b DNSRow) bool {
	at, bt := a.DNSQryType, b.DNSQryType
	a.DNSQryType, b.DNSQryType = nil, nil
	return a == b && (at == nil) == (bt == nil) && (at == nil || *at == *bt)
}

// fmtDNS formats a row with its type's value rather than its address.
func fmtDNS(r DNSRow) string {
	typ := "null"
	if r.DNSQryType != nil {
		typ = strconv.Itoa(int(*r.DNSQryType))
	}
	r.DNSQryType = nil
	return strings.Replace(fmt.Sprintf("%+v", r), "DNSQryType:<nil>", "DNSQryType:"+typ, 1)
}

func TestParseDNSErrors(t *testing.T) {
	for _, tc := range []struct {
		name string
		line string
		col  string
	}{
		{"tshark's header", "frame.time,frame.time_epoch,frame.len,ip.src,ip.dst,dns.resp.name,dns.resp.type,dns.resp.class,dns.flags.rcode,dns.a", ""},
		{"empty line", "", ""},
		{"10 fields: no comma in the time", strings.Replace(dnsLine, "7,", "7", 1), ""},
		{"12 fields", dnsLine + ",x", ""},
		{"unknown month", strings.Replace(dnsLine, "Aug", "Agu", 1), "frame_time"},
		{"day 32", strings.Replace(dnsLine, "Aug  7", "Aug 32", 1), "frame_time"},
		{"no year", strings.Replace(dnsLine, " 2016", "", 1), "frame_time"},
		{"bad clock", strings.Replace(dnsLine, "10:58:03", "10:61:03", 1), "frame_time"},
		{"epoch not a number", dnsLineWith(2, "now"), "unix_tstamp"},
		{"empty epoch", dnsLineWith(2, ""), "unix_tstamp"},
		{"negative epoch", dnsLineWith(2, "-1.000000000"), "unix_tstamp"},
		{"epoch with a bad fraction", dnsLineWith(2, "1470567483.12x"), "unix_tstamp"},
		{"epoch after year 9999", dnsLineWith(2, "253402300800.0"), "unix_tstamp"},
		{"length 0", dnsLineWith(3, "0"), "frame_len"},
		{"length not a number", dnsLineWith(3, "91b"), "frame_len"},
		{"source not an address", dnsLineWith(4, "ns1.example.com"), "ip_src"},
		{"destination not an address", dnsLineWith(5, "10.1.1.256"), "ip_dst"},
		{"type not a number", dnsLineWith(7, "A"), "dns_qry_type"},
		{"type over 65535", dnsLineWith(7, "65536"), "dns_qry_type"},
		{"class not hexadecimal", dnsLineWith(8, "IN"), "dns_qry_class"},
		{"class without digits", dnsLineWith(8, "0x"), "dns_qry_class"},
		{"class decimal", dnsLineWith(8, "1"), "dns_qry_class"},
		{"rcode 16", dnsLineWith(9, "16"), "dns_qry_rcode"},
		{"empty rcode", dnsLineWith(9, ""), "dns_qry_rcode"},
		{"rcode a name", dnsLineWith(9, "NXDOMAIN"), "dns_qry_rcode"},
		{"address not IPv4", dnsLineWith(10, "2001:db8::7"), "dns_a"},
		{"address a name", dnsLineWith(10, "example.com"), "dns_a"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r, err := ParseDNS(tc.line)
			if err == nil {
				t.Fatalf("ParseDNS(%q) = %s, want an error", tc.line, fmtDNS(r))
			}
			wantColumn(t, err, DNS, tc.col)
		})
	}
}

// The sample Bluecoat log: two comment lines, then 30 requests over two
// hours.
func TestParseProxySamples(t *testing.T) {
	lines := rowsTestLines(t, "proxy.log")
	if len(lines) != 32 {
		t.Fatalf("%d lines, want 32", len(lines))
	}
	for _, l := range lines[:2] {
		_, err := ParseProxy(l)
		wantColumn(t, err, Proxy, "")
	}
	hours := map[string]int{}
	for i, l := range lines[2:] {
		r, err := ParseProxy(l)
		if err != nil {
			t.Fatalf("line %d: %v", i+3, err)
		}
		hours[strings.Join(ProxyTable.Partition(r), "/")]++
	}
	if hours["2016/08/17/10"] != 16 || hours["2016/08/17/11"] != 14 || len(hours) != 2 {
		t.Errorf("rows by partition %v, want 16 in 2016/08/17/10 and 14 in 2016/08/17/11", hours)
	}

	got, _ := ParseProxy(lines[3])
	want := ProxyRow{
		PDate: "2016-08-17", PTime: "10:56:13", ClientIP: "10.1.1.45", Host: "www.example.com", ReqMethod: "GET",
		UserAgent: "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_11_6) AppleWebKit/601.7.7 (KHTML, like Gecko) Version/9.1.2 Safari/601.7.7", ResContType: "application/javascript", Duration: 13, Username: "jdoe", AuthGroup: "Domain Users",
		ExceptionID: "-", FilterResult: "OBSERVED", WebCat: "Technology/Internet",
		Referer: "http://www.example.com/index.html", RespCode: "200", Action: "TCP_HIT", URIScheme: "http",
		URIPort: "80", URIPath: "/static/app.js", URIQuery: "?v=20160817", URIExtension: "js",
		ServerIP: "198.51.100.1", SCBytes: 2213, CSBytes: 398, VirusID: "-", BCAppName: "none", BCAppOper: "none",
		FullURI: "www.example.com/static/app.js?v=20160817", Y: "2016", M: "08", D: "17", H: "10",
	}
	if got != want {
		t.Errorf("line 4:\n got %+v\nwant %+v", got, want)
	}

	// A CONNECT: path "/" and query "-" are left out of fulluri.
	got, _ = ParseProxy(lines[6])
	want = ProxyRow{
		PDate: "2016-08-17", PTime: "10:56:52", ClientIP: "10.1.6.7", Host: "mail.example.com",
		ReqMethod: "CONNECT", UserAgent: "Mozilla/5.0 (X11; Ubuntu; Linux x86_64; rv:48.0) Gecko/20100101 Firefox/48.0",
		ResContType: "-", Duration: 60016, Username: "-", AuthGroup: "-", ExceptionID: "-", FilterResult: "OBSERVED",
		WebCat: "Web Email", Referer: "http://www.example.com/index.html", RespCode: "200", Action: "TCP_TUNNELED",
		URIScheme: "tcp", URIPort: "443", URIPath: "/", URIQuery: "-", URIExtension: "-", ServerIP: "198.51.100.1",
		SCBytes: 48223, CSBytes: 2211, VirusID: "-", BCAppName: "Example Mail", BCAppOper: "none",
		FullURI: "mail.example.com", Y: "2016", M: "08", D: "17", H: "10",
	}
	if got != want {
		t.Errorf("line 7:\n got %+v\nwant %+v", got, want)
	}
	if p := ProxyTable.Partition(got); !slices.Equal(p, []string{"2016", "08", "17", "10"}) {
		t.Errorf("partition %q", p)
	}
}

// proxyLine is a Bluecoat line with field i (0-26) replaced by v.
func proxyLine(i int, v string) string {
	f := []string{"2016-08-17", "11:00:11", "18", "10.1.4.100", "asmith", "Finance", "-", "OBSERVED",
		`"Search Engines/Portals"`, "-", "200", "TCP_NC_MISS", "GET", "text/html", "http", "search.example.com",
		"80", "/search", "?q=spot", "-", `"Mozilla/5.0 (X11)"`, "198.51.100.1", "1285", "410", "-", `"none"`, `"none"`}
	f[i] = v
	return strings.Join(f, " ")
}

func TestParseProxyFields(t *testing.T) {
	for _, tc := range []struct {
		name string
		line string
		ok   func(ProxyRow) bool
	}{
		{"plain", proxyLine(0, "2016-08-17"), func(r ProxyRow) bool {
			return r.WebCat == "Search Engines/Portals" && r.UserAgent == "Mozilla/5.0 (X11)" && r.FullURI == "search.example.com/search?q=spot" &&
				r.Y == "2016" && r.M == "08" && r.D == "17" && r.H == "11"
		}},
		{"path of one character is left out", proxyLine(17, "/"), func(r ProxyRow) bool { return r.FullURI == "search.example.com?q=spot" }},
		{"query of one character is left out", proxyLine(18, "?"), func(r ProxyRow) bool { return r.FullURI == "search.example.com/search" }},
		{"both left out", strings.Replace(proxyLine(17, "-"), "?q=spot", "-", 1), func(r ProxyRow) bool { return r.FullURI == "search.example.com" }},
		{"tabs and blanks around", "\t " + proxyLine(0, "2016-08-17") + "  \r", func(r ProxyRow) bool { return r.PDate == "2016-08-17" && r.BCAppOper == "none" }},
		{"an empty quoted field", proxyLine(4, `""`), func(r ProxyRow) bool { return r.Username == "" }},
		{"quotes inside a word", proxyLine(20, `agent"/1.0 (x y)"z`), func(r ProxyRow) bool { return r.UserAgent == "agent/1.0 (x y)z" }},
		{"escaped quote and backslash in quotes", proxyLine(20, `"a \"b\" c\\d \x"`), func(r ProxyRow) bool { return r.UserAgent == `a "b" c\d \x` }},
		{"escaped blank outside quotes", proxyLine(5, `Domain\ Users`), func(r ProxyRow) bool { return r.AuthGroup == "Domain Users" }},
		{"an apostrophe is a character", proxyLine(20, `it's`), func(r ProxyRow) bool { return r.UserAgent == "it's" }},
		{"a # inside a line", proxyLine(18, "?a#b"), func(r ProxyRow) bool { return r.URIQuery == "?a#b" }},
		{"IPv6 client", proxyLine(3, "2001:db8::5"), func(r ProxyRow) bool { return r.ClientIP == "2001:db8::5" }},
		{"midnight", proxyLine(1, "00:00:00"), func(r ProxyRow) bool { return r.H == "00" }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r, err := ParseProxy(tc.line)
			if err != nil {
				t.Fatalf("ParseProxy(%q): %v", tc.line, err)
			}
			if !tc.ok(r) {
				t.Fatalf("ParseProxy(%q) = %+v", tc.line, r)
			}
		})
	}
}

func TestParseProxyErrors(t *testing.T) {
	good := proxyLine(0, "2016-08-17")
	for _, tc := range []struct {
		name string
		line string
		col  string
	}{
		{"#Software", "#Software: SGOS 6.5.9.8", ""},
		{"#Fields", "#Fields: date time time-taken c-ip", ""},
		{"empty line", "", ""},
		{"blank line", "  \t ", ""},
		{"26 fields", good[:strings.LastIndexByte(good, ' ')], ""},
		{"28 fields", good + " x", ""},
		{"a quote not closed", proxyLine(20, `"Mozilla/5.0 (X11)`), ""},
		{"a backslash at the end", good + `\`, ""},
		{"date with slashes", proxyLine(0, "2016/08/17"), "p_date"},
		{"date of no day", proxyLine(0, "2016-04-31"), "p_date"},
		{"time with a fraction", proxyLine(1, "11:00:11.5"), "p_time"},
		{"hour 24", proxyLine(1, "24:00:00"), "p_time"},
		{"time-taken not a number", proxyLine(2, "-"), "duration"},
		{"time-taken over int", proxyLine(2, "2147483648"), "duration"},
		{"client not an address", proxyLine(3, "workstation-7"), "clientip"},
		{"empty status", proxyLine(10, `""`), "respcode"},
		{"empty method", proxyLine(12, `""`), "reqmethod"},
		{"empty host", proxyLine(15, `""`), "host"},
		{"proxy not an address", proxyLine(21, "-"), "serverip"},
		{"sc-bytes negative", proxyLine(22, "-5"), "scbytes"},
		{"cs-bytes not a number", proxyLine(23, "4k"), "csbytes"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r, err := ParseProxy(tc.line)
			if err == nil {
				t.Fatalf("ParseProxy(%q) = %+v, want an error", tc.line, r)
			}
			wantColumn(t, err, Proxy, tc.col)
		})
	}
}

// splitShell splits as Python's shlex.split with '"' as the only quote
// character (the expected words were printed by Python 3's shlex).
func TestSplitShell(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want []string // nil: an error
	}{
		{`a b`, []string{"a", "b"}},
		{"  a\t b  ", []string{"a", "b"}},
		{`a "b c" d`, []string{"a", "b c", "d"}},
		{`a"b c"d`, []string{"ab cd"}},
		{`"" x`, []string{"", "x"}},
		{`a ""`, []string{"a", ""}},
		{`a\ b`, []string{"a b"}},
		{`"a \" b"`, []string{`a " b`}},
		{`"a \\ b"`, []string{`a \ b`}},
		{`"a \x b"`, []string{`a \x b`}},
		{`it's ok`, []string{"it's", "ok"}},
		{`a#b #c`, []string{"a#b", "#c"}},
		{"x\r", []string{"x"}},
		{`"unclosed`, nil},
		{`end\`, nil},
		{``, []string{}},
	} {
		out := make([]string, 8)
		n, err := splitShell(tc.in, out)
		if tc.want == nil {
			if err == nil {
				t.Errorf("splitShell(%q) = %q, want an error", tc.in, out[:n])
			}
			continue
		}
		if err != nil || !slices.Equal(out[:n], tc.want) {
			t.Errorf("splitShell(%q) = %q, %v; want %q", tc.in, out[:n], err, tc.want)
		}
	}
}

func BenchmarkParseFlow(b *testing.B) {
	lines := rowsTestLines(b, "flow_records.csv")
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		if _, err := ParseFlow(lines[i%len(lines)]); err != nil {
			b.Fatal(err)
		}
		i++
	}
}

func BenchmarkParseDNS(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		if _, err := ParseDNS(dnsLine); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkParseProxy(b *testing.B) {
	lines := rowsTestLines(b, "proxy.log")[2:]
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		if _, err := ParseProxy(lines[i%len(lines)]); err != nil {
			b.Fatal(err)
		}
		i++
	}
}
