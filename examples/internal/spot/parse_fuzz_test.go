package spot

import (
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"
)

// The fuzz tests check that the parsers never panic, that every error is
// a *ParseError, and that an accepted line means what it says: its key
// fields are in the row, and the row written back as a canonical line
// parses to the same row.

// checkParseError fails unless err is a *ParseError of typ.
func checkParseError(t *testing.T, err error, typ Type) {
	t.Helper()
	var pe *ParseError
	if !errors.As(err, &pe) || pe.Type != typ || err.Error() == "" {
		t.Fatalf("error %v (%T) is not a %s *ParseError", err, err, typ)
	}
}

func FuzzParseFlow(f *testing.F) {
	for _, l := range rowsTestLines(f, "flow_records.csv") {
		f.Add(l)
	}
	f.Add("")
	f.Add("tr,try,trm,trd,trh,trm,trs,td,sa,da,sp,dp,pr,flg,fwd,stos,ipkt,ibyt,opkt,obyt,in,out,sas,das,dtos,dir,ra")
	f.Add("2016-02-29 23:59:59,2016,2,29,23,59,59,0.5,2001:db8::1,10.0.0.2,1,2,UDP,......,0,0,1,1,0,0,0,0,0,0,0,0,0.0.0.0")
	f.Add(flowLine(17, "18446744073709551616"))
	f.Fuzz(func(t *testing.T, line string) {
		r, err := ParseFlow(line)
		if err != nil {
			checkParseError(t, err, Flow)
			return
		}
		if got := line[:strings.IndexByte(line, ',')]; r.TReceived != got {
			t.Fatalf("treceived %q, the line's first field is %q", r.TReceived, got)
		}
		ts, err := time.ParseInLocation(time.DateTime, r.TReceived, time.UTC)
		if err != nil || ts.Unix() != r.UnixTstamp {
			t.Fatalf("unix_tstamp %d for %q (%v)", r.UnixTstamp, r.TReceived, err)
		}
		if r.Y != ts.Year() || r.M != int(ts.Month()) || r.D != ts.Day() || r.H != ts.Hour() ||
			int(r.TrYear) != r.Y || int(r.TrMonth) != r.M || int(r.TrDay) != r.D || int(r.TrHour) != r.H {
			t.Fatalf("partition %d/%d/%d/%d and split time %+v differ from %v", r.Y, r.M, r.D, r.H, r, ts)
		}
		again, err := ParseFlow(formatFlow(r))
		if err != nil || again != r {
			t.Fatalf("%q parsed to %+v; written back as %q it parses to %+v, %v", line, r, formatFlow(r), again, err)
		}
	})
}

// formatFlow writes a row as spot-nfdump would.
func formatFlow(r FlowRow) string {
	i := func(v int32) string { return strconv.Itoa(int(v)) }
	l := func(v int64) string { return strconv.FormatInt(v, 10) }
	return strings.Join([]string{r.TReceived, i(r.TrYear), i(r.TrMonth), i(r.TrDay), i(r.TrHour), i(r.TrMinute), i(r.TrSec),
		strconv.FormatFloat(float64(r.TDur), 'f', -1, 32), r.SIP, r.DIP, i(r.SPort), i(r.DPort), r.Proto, r.Flag,
		i(r.Fwd), i(r.STos), l(r.IPkt), l(r.IByt), l(r.OPkt), l(r.OByt), i(r.Input), i(r.Output), i(r.SAS), i(r.DAS),
		i(r.DTos), i(r.Dir), r.RIP}, ",")
}

func FuzzParseDNS(f *testing.F) {
	f.Add(dnsLine)
	f.Add(nxdomLine)
	f.Add("Dec 31, 2016 23:59:59.999999999 CET,1483225199.999999999,120,192.0.2.53,10.1.1.9,v6.example.org,28,0x00000001,0,")
	f.Add("frame.time,frame.time_epoch,frame.len,ip.src,ip.dst,dns.resp.name,dns.resp.type,dns.resp.class,dns.flags.rcode,dns.a")
	f.Add("")
	f.Fuzz(func(t *testing.T, line string) {
		r, err := ParseDNS(line)
		if err != nil {
			checkParseError(t, err, DNS)
			return
		}
		fs := strings.Split(line, ",")
		if r.FrameTime != fs[0]+","+fs[1] {
			t.Fatalf("frame_time %q, the line starts %q", r.FrameTime, fs[0]+","+fs[1])
		}
		if whole, _, _ := strings.Cut(fs[2], "."); strconv.FormatInt(r.UnixTstamp, 10) != strings.TrimLeft(whole, "0") && r.UnixTstamp != 0 {
			t.Fatalf("unix_tstamp %d from %q", r.UnixTstamp, fs[2])
		}
		ts := time.Unix(r.UnixTstamp, 0).UTC()
		if r.Y != ts.Year() || r.M != int(ts.Month()) || r.D != ts.Day() || r.H != ts.Hour() {
			t.Fatalf("partition %d/%d/%d/%d, the epoch is %v", r.Y, r.M, r.D, r.H, ts)
		}
		if (r.DNSQryType == nil) != (fs[7] == "") || r.IPSrc != fs[4] || r.IPDst != fs[5] || r.DNSQryName != fs[6] || r.DNSA != fs[10] {
			t.Fatalf("%q parsed to %s", line, fmtDNS(r))
		}
		again, err := ParseDNS(formatDNS(r))
		if err != nil || !equalDNS(again, r) {
			t.Fatalf("%q parsed to %s; written back as %q it parses to %s, %v", line, fmtDNS(r), formatDNS(r), fmtDNS(again), err)
		}
	})
}

// formatDNS writes a row as tshark would, with the epoch's whole seconds.
func formatDNS(r DNSRow) string {
	typ := ""
	if r.DNSQryType != nil {
		typ = strconv.Itoa(int(*r.DNSQryType))
	}
	return strings.Join([]string{r.FrameTime, strconv.FormatInt(r.UnixTstamp, 10) + ".000000000", strconv.Itoa(int(r.FrameLen)),
		r.IPSrc, r.IPDst, r.DNSQryName, typ, r.DNSQryClass, strconv.Itoa(int(r.DNSQryRcode)), r.DNSA}, ",")
}

func FuzzParseProxy(f *testing.F) {
	for _, l := range rowsTestLines(f, "proxy.log") {
		f.Add(l)
	}
	f.Add(proxyLine(20, `"a \"b\" c\\d \x"`))
	f.Add(proxyLine(20, `"unclosed`))
	f.Add("")
	f.Fuzz(func(t *testing.T, line string) {
		r, err := ParseProxy(line)
		if err != nil {
			checkParseError(t, err, Proxy)
			return
		}
		if !strings.Contains(line, r.PDate+" ") || r.Y+"-"+r.M+"-"+r.D != r.PDate || r.H != r.PTime[:2] {
			t.Fatalf("%q: date %q time %q partition %s/%s/%s/%s", line, r.PDate, r.PTime, r.Y, r.M, r.D, r.H)
		}
		if !strings.HasPrefix(r.FullURI, r.Host) || len(r.FullURI) > len(r.Host)+len(r.URIPath)+len(r.URIQuery) {
			t.Fatalf("fulluri %q from %q %q %q", r.FullURI, r.Host, r.URIPath, r.URIQuery)
		}
		again, err := ParseProxy(formatProxy(r))
		if err != nil || again != r {
			t.Fatalf("%q parsed to %+v; written back as %q it parses to %+v, %v", line, r, formatProxy(r), again, err)
		}
	})
}

// formatProxy writes a row as a Bluecoat log line in the log's order,
// quoting every field.
func formatProxy(r ProxyRow) string {
	q := func(s string) string {
		return `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(s) + `"`
	}
	i := func(v int32) string { return strconv.Itoa(int(v)) }
	fields := []string{r.PDate, r.PTime, i(r.Duration), r.ClientIP, r.Username, r.AuthGroup, r.ExceptionID,
		r.FilterResult, r.WebCat, r.Referer, r.RespCode, r.Action, r.ReqMethod, r.ResContType, r.URIScheme,
		r.Host, r.URIPort, r.URIPath, r.URIQuery, r.URIExtension, r.UserAgent, r.ServerIP, i(r.SCBytes),
		i(r.CSBytes), r.VirusID, r.BCAppName, r.BCAppOper}
	for j, f := range fields {
		fields[j] = q(f)
	}
	return strings.Join(fields, " ")
}
