package spot

import (
	"math"
	"net/netip"
	"strings"
	"time"
)

// dnsFields is the number of comma-separated fields of a tshark line:
// frame.time holds a comma.
const dnsFields = 11

var tsharkMonths = [...]string{"Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"}

// ParseDNS parses a line of tshark's field output of a DNS response,
//
//	tshark -r FILE -T fields -E separator=, -E occurrence=f \
//	  -e frame.time -e frame.time_epoch -e frame.len -e ip.src -e ip.dst \
//	  -e dns.resp.name -e dns.resp.type -e dns.resp.class -e dns.flags.rcode -e dns.a
//
// such as
//
//	Aug  7, 2016 10:58:03.124456000 UTC,1470567483.124456000,91,10.0.0.53,10.1.1.23,www.example.com,1,0x0001,0,192.0.2.7
//
// into a dns row. frame.time holds a comma, so the line has 11 fields:
// frame_time is the first two joined by their comma, unix_tstamp the whole
// seconds of frame.time_epoch (which gives the partition, in UTC),
// ip_src and ip_dst are IP addresses or empty (tshark prints ip.src empty
// for a packet over IPv6), dns_qry_type is null when empty (a response
// without an answer), dns_qry_class is empty or hexadecimal, the rcode
// is 0-15 and dns_a is empty or an IPv4 address. tshark's header line is
// an error like any line that does not parse.
func ParseDNS(line string) (DNSRow, error) {
	var f [dnsFields]string
	if n, ok := rowSplitN(line, f[:]); !ok {
		return DNSRow{}, rowLineError(DNS, "%d fields, want %d (frame.time holds a comma)", n, dnsFields)
	}
	var r DNSRow
	r.FrameTime = line[:len(f[0])+1+len(f[1])]
	if !tsharkTime(f[0], f[1]) {
		return DNSRow{}, rowFieldError(DNS, "frame_time", r.FrameTime, `not tshark's frame.time "Mon  D, YYYY hh:mm:ss.fffffffff TZ"`)
	}
	sec, ok := epochSeconds(f[2])
	if !ok {
		return DNSRow{}, rowFieldError(DNS, "unix_tstamp", f[2], "not an epoch time in seconds (frame.time_epoch)")
	}
	r.UnixTstamp = sec
	p := rowParser{t: DNS}
	r.FrameLen = p.int32("frame_len", f[3], 1, math.MaxInt32)
	r.IPSrc = p.optionalIP("ip_src", f[4])
	r.IPDst = p.optionalIP("ip_dst", f[5])
	r.DNSQryName = f[6]
	if f[7] != "" {
		t := p.int32("dns_qry_type", f[7], 0, math.MaxUint16)
		r.DNSQryType = &t
	}
	r.DNSQryClass = f[8]
	if p.err == nil && f[8] != "" && !hexNumber(f[8]) {
		p.err = rowFieldError(DNS, "dns_qry_class", f[8], `not a hexadecimal class "0x0001"`)
	}
	r.DNSQryRcode = p.int32("dns_qry_rcode", f[9], 0, 15)
	r.DNSA = f[10]
	if p.err == nil && f[10] != "" {
		if a, err := netip.ParseAddr(f[10]); err != nil || !a.Is4() {
			p.err = rowFieldError(DNS, "dns_a", f[10], "not an IPv4 address")
		}
	}
	if p.err != nil {
		return DNSRow{}, p.err
	}
	t := time.Unix(sec, 0).UTC()
	r.Y, r.M, r.D, r.H = t.Year(), int(t.Month()), t.Day(), t.Hour()
	return r, nil
}

func (p *rowParser) optionalIP(col, s string) string {
	if s == "" {
		return s
	}
	return p.ip(col, s)
}

// tsharkTime checks the two halves of frame.time, "Aug  7" and
// " 2016 10:58:03.124456000 UTC": a month, a day, a year and a time.
func tsharkTime(a, b string) bool {
	if len(a) < 5 || a[3] != ' ' {
		return false
	}
	known := false
	for _, m := range tsharkMonths {
		known = known || a[:3] == m
	}
	day, ok := rowDigits(strings.TrimLeft(a[4:], " "))
	if !known || !ok || day < 1 || day > 31 || len(a) > 6 {
		return false
	}
	// " YYYY hh:mm:ss.fraction ZONE"
	if len(b) < 15 || b[0] != ' ' || b[5] != ' ' {
		return false
	}
	if _, ok := rowDigits(b[1:5]); !ok {
		return false
	}
	var c rowCivil
	return rowParseClock(b[6:14], &c)
}

// epochSeconds parses frame.time_epoch, "1470567483.124456000", and
// returns its whole seconds, which must give a year before 10000.
func epochSeconds(s string) (int64, bool) {
	whole, frac, dot := strings.Cut(s, ".")
	if dot {
		if _, ok := rowDigits(frac); !ok {
			return 0, false
		}
	}
	n, err := rowParseUint(whole, 253402300799) // 9999-12-31 23:59:59 UTC
	return int64(n), err == nil
}

// hexNumber reports whether s is "0x" and 1 to 8 hexadecimal digits.
func hexNumber(s string) bool {
	h, ok := strings.CutPrefix(s, "0x")
	if !ok || h == "" || len(h) > 8 {
		return false
	}
	for i := 0; i < len(h); i++ {
		c := h[i]
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F') {
			return false
		}
	}
	return true
}
