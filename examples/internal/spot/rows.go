package spot

import (
	"errors"
	"fmt"
	"math"
	"net/netip"
	"strconv"
	"strings"
	"time"
)

// The rows of Spot's Hive tables (spot-setup/hive/create_{flow,dns,proxy}_parquet.hql).
// Each struct's fields are the table's columns in the table's order, with
// the Hive types mapped to Go as string→string, bigint→int64, int→int32
// and float→float32, so that parquet-go writes files whose schema is the
// table's (DDL derives the CREATE TABLE from these structs). The fields
// tagged parquet:"-" are the partition columns y, m, d and h: they are not
// stored in the files, only in the y=/m=/d=/h= directories
// (Table.Partition gives their values).
//
// The parsers take one text line of a collector chunk and check every
// field; a line that does not parse gives a *ParseError naming the column
// and its text. Strings of a row share the line's memory.

// FlowRow is a row of <db>.flow: one netflow record, from a line of
// spot-nfdump's CSV (nfdump -o csv). Partitioned by y SMALLINT, m TINYINT,
// d TINYINT, h TINYINT, written unpadded (y=2016/m=8/d=17/h=10).
type FlowRow struct {
	TReceived  string  `parquet:"treceived"`   // "2016-08-17 10:58:03", UTC
	UnixTstamp int64   `parquet:"unix_tstamp"` // epoch seconds of treceived
	TrYear     int32   `parquet:"tryear"`
	TrMonth    int32   `parquet:"trmonth"`
	TrDay      int32   `parquet:"trday"`
	TrHour     int32   `parquet:"trhour"`
	TrMinute   int32   `parquet:"trminute"`
	TrSec      int32   `parquet:"trsec"`
	TDur       float32 `parquet:"tdur"` // seconds
	SIP        string  `parquet:"sip"`
	DIP        string  `parquet:"dip"`
	SPort      int32   `parquet:"sport"`
	DPort      int32   `parquet:"dport"` // ICMP: type×256+code
	Proto      string  `parquet:"proto"` // TCP, UDP, ICMP, ...
	Flag       string  `parquet:"flag"`  // TCP flags, "." for a flag not set
	Fwd        int32   `parquet:"fwd"`
	STos       int32   `parquet:"stos"`
	IPkt       int64   `parquet:"ipkt"`
	IByt       int64   `parquet:"ibyt"`
	OPkt       int64   `parquet:"opkt"`
	OByt       int64   `parquet:"obyt"`
	Input      int32   `parquet:"input"`
	Output     int32   `parquet:"output"`
	SAS        int32   `parquet:"sas"`
	DAS        int32   `parquet:"das"`
	DTos       int32   `parquet:"dtos"`
	Dir        int32   `parquet:"dir"`
	RIP        string  `parquet:"rip"` // the exporting router

	Y int `parquet:"-"` // partition y: the year
	M int `parquet:"-"` // partition m: the month, 1-12
	D int `parquet:"-"` // partition d: the day, 1-31
	H int `parquet:"-"` // partition h: the hour, 0-23
}

// DNSRow is a row of <db>.dns: one DNS response, from a line of tshark's
// field output (see ParseDNS). Partitioned like flow, from the epoch in
// UTC.
type DNSRow struct {
	FrameTime   string `parquet:"frame_time"`  // "Aug  7, 2016 10:58:03.124456000 UTC"
	UnixTstamp  int64  `parquet:"unix_tstamp"` // the whole seconds of frame.time_epoch
	FrameLen    int32  `parquet:"frame_len"`
	IPDst       string `parquet:"ip_dst"`
	IPSrc       string `parquet:"ip_src"`
	DNSQryName  string `parquet:"dns_qry_name"`
	DNSQryClass string `parquet:"dns_qry_class"` // hex, as tshark prints it: "0x0001"
	// DNSQryType is null when tshark prints no type: a response without an
	// answer, such as NXDOMAIN.
	DNSQryType  *int32 `parquet:"dns_qry_type,optional"`
	DNSQryRcode int32  `parquet:"dns_qry_rcode"`
	DNSA        string `parquet:"dns_a"` // the first A record, or ""

	Y int `parquet:"-"`
	M int `parquet:"-"`
	D int `parquet:"-"`
	H int `parquet:"-"`
}

// ProxyRow is a row of <db>.proxy: one request of a Bluecoat access log.
// Partitioned by y, m, d, h STRING, zero-padded (y=2016/m=08/d=17/h=10).
type ProxyRow struct {
	PDate        string `parquet:"p_date"` // "2016-08-17"
	PTime        string `parquet:"p_time"` // "10:58:03"
	ClientIP     string `parquet:"clientip"`
	Host         string `parquet:"host"`
	ReqMethod    string `parquet:"reqmethod"`
	UserAgent    string `parquet:"useragent"`
	ResContType  string `parquet:"resconttype"`
	Duration     int32  `parquet:"duration"` // time-taken, ms
	Username     string `parquet:"username"`
	AuthGroup    string `parquet:"authgroup"`
	ExceptionID  string `parquet:"exceptionid"`
	FilterResult string `parquet:"filterresult"`
	WebCat       string `parquet:"webcat"`
	Referer      string `parquet:"referer"`
	RespCode     string `parquet:"respcode"`
	Action       string `parquet:"action"`
	URIScheme    string `parquet:"urischeme"`
	URIPort      string `parquet:"uriport"`
	URIPath      string `parquet:"uripath"`
	URIQuery     string `parquet:"uriquery"`
	URIExtension string `parquet:"uriextension"`
	ServerIP     string `parquet:"serverip"`
	SCBytes      int32  `parquet:"scbytes"`
	CSBytes      int32  `parquet:"csbytes"`
	VirusID      string `parquet:"virusid"`
	BCAppName    string `parquet:"bcappname"`
	BCAppOper    string `parquet:"bcappoper"`
	// FullURI is host + uripath + uriquery, leaving out a path or query of
	// one character (such as "-"), as Spot computes it.
	FullURI string `parquet:"fulluri"`

	Y string `parquet:"-"` // "2016"
	M string `parquet:"-"` // "08"
	D string `parquet:"-"` // "17"
	H string `parquet:"-"` // "10"
}

// Table describes one of Spot's tables to a generic consumer: how a line
// becomes a row and in which Hive partition the row goes. The listener
// takes a Table[R] and needs nothing else of R but its parquet tags.
type Table[R any] struct {
	// Type is the pipeline; it is also the Hive table's name.
	Type Type
	// Parse parses one line of a collector chunk. Its error is a
	// *ParseError.
	Parse func(line string) (R, error)
	// Partition returns the row's values of PartitionCols, as they appear
	// in the directory names. The slice may be shared: do not modify it.
	Partition func(R) []string
	// PartitionCols are the partition columns, y, m, d and h.
	PartitionCols []string
}

// PartitionCols are the partition columns of every Spot table.
var PartitionCols = []string{"y", "m", "d", "h"}

// The three tables.
var (
	FlowTable = Table[FlowRow]{Type: Flow, Parse: ParseFlow, PartitionCols: PartitionCols,
		Partition: func(r FlowRow) []string { return intPartition(r.Y, r.M, r.D, r.H) }}
	DNSTable = Table[DNSRow]{Type: DNS, Parse: ParseDNS, PartitionCols: PartitionCols,
		Partition: func(r DNSRow) []string { return intPartition(r.Y, r.M, r.D, r.H) }}
	ProxyTable = Table[ProxyRow]{Type: Proxy, Parse: ParseProxy, PartitionCols: PartitionCols,
		Partition: func(r ProxyRow) []string { return []string{r.Y, r.M, r.D, r.H} }}
)

// intPartition formats unpadded partition values. strconv returns the
// numbers below 100 without allocating; years come from a table.
func intPartition(y, m, d, h int) []string {
	ys := ""
	if y >= partitionFirstYear && y < partitionFirstYear+len(partitionYears) {
		ys = partitionYears[y-partitionFirstYear]
	} else {
		ys = strconv.Itoa(y)
	}
	return []string{ys, strconv.Itoa(m), strconv.Itoa(d), strconv.Itoa(h)}
}

const partitionFirstYear = 1970

var partitionYears = func() (s [200]string) {
	for i := range s {
		s[i] = strconv.Itoa(partitionFirstYear + i)
	}
	return s
}()

// ParseError is the error of the parsers: the line, or one of its
// columns, is not what the pipeline's tool prints.
type ParseError struct {
	Type   Type   // the pipeline
	Column string // the column at fault, or "" for the line as a whole
	Value  string // the column's text, cut to 64 bytes and "..." when longer
	Reason string // what is wrong
}

func (e *ParseError) Error() string {
	if e.Column == "" {
		return fmt.Sprintf("%s: %s", e.Type, e.Reason)
	}
	return fmt.Sprintf("%s: column %s: %q: %s", e.Type, e.Column, e.Value, e.Reason)
}

const maxErrValue = 64

func rowFieldError(t Type, col, val, reason string) error {
	if len(val) > maxErrValue {
		val = val[:maxErrValue] + "..."
	}
	return &ParseError{Type: t, Column: col, Value: val, Reason: reason}
}

func rowLineError(t Type, format string, args ...any) error {
	return &ParseError{Type: t, Reason: fmt.Sprintf(format, args...)}
}

var errRowNotNumber = errors.New("not a number")

// rowSplitN cuts line at its commas into out, which must hold exactly the
// number of fields expected; it reports the number of fields the line has
// when that is not len(out). One pass over the bytes: the fields are short,
// so a call of IndexByte per field costs more than it saves.
func rowSplitN(line string, out []string) (n int, ok bool) {
	if len(out) == 0 {
		return 0, false
	}
	last := len(out) - 1
	start := 0
	for i := 0; i < len(line); i++ {
		if line[i] != ',' {
			continue
		}
		if n == last {
			return len(out) + strings.Count(line[i+1:], ","), false
		}
		out[n] = line[start:i]
		n++
		start = i + 1
	}
	if n != last {
		return n + 1, false
	}
	out[n] = line[start:]
	return len(out), true
}

// rowParseUint parses a plain decimal: digits only, no sign, at most max.
func rowParseUint(s string, max uint64) (uint64, error) {
	if s == "" {
		return 0, errors.New("empty")
	}
	if len(s) > 20 {
		return 0, errors.New("out of range")
	}
	var n uint64
	for i := 0; i < len(s); i++ {
		c := s[i] - '0'
		if c > 9 {
			return 0, errRowNotNumber
		}
		if i == 19 && n > (math.MaxUint64-uint64(c))/10 { // only 20 digits can overflow
			return 0, errors.New("out of range")
		}
		n = n*10 + uint64(c)
	}
	if n > max {
		return 0, fmt.Errorf("out of range [0, %d]", max)
	}
	return n, nil
}

// rowParser parses the columns of one line, keeping the first error: once
// it has one, its methods do nothing.
type rowParser struct {
	t   Type
	err error
}

func (p *rowParser) uint(col, s string, hi uint64) uint64 {
	if p.err != nil {
		return 0
	}
	n, err := rowParseUint(s, hi)
	if err != nil {
		p.err = rowFieldError(p.t, col, s, err.Error())
	}
	return n
}

func (p *rowParser) int32(col, s string, lo, hi int32) int32 {
	if p.err != nil {
		return 0
	}
	n, err := rowParseUint(s, uint64(hi))
	if err == nil && n < uint64(lo) {
		err = fmt.Errorf("out of range [%d, %d]", lo, hi)
	}
	if err != nil {
		p.err = rowFieldError(p.t, col, s, err.Error())
		return 0
	}
	return int32(n)
}

func (p *rowParser) int64(col, s string) int64 {
	return int64(p.uint(col, s, math.MaxInt64))
}

// ip checks that s is an IP address (IPv4 or IPv6).
func (p *rowParser) ip(col, s string) string {
	if p.err != nil {
		return s
	}
	if _, err := netip.ParseAddr(s); err != nil {
		p.err = rowFieldError(p.t, col, s, "not an IP address")
	}
	return s
}

func (p *rowParser) nonEmpty(col, s string) string {
	if p.err == nil && s == "" {
		p.err = rowFieldError(p.t, col, s, "empty")
	}
	return s
}

// digits reports whether s is ASCII digits only (and not empty), and
// returns their value; callers bound the length.
func rowDigits(s string) (int, bool) {
	if s == "" {
		return 0, false
	}
	n := 0
	for i := 0; i < len(s); i++ {
		c := s[i] - '0'
		if c > 9 {
			return 0, false
		}
		n = n*10 + int(c)
	}
	return n, true
}

// daysIn returns the number of days of a month (1-12) of the proleptic
// Gregorian calendar.
func daysIn(year, month int) int {
	switch month {
	case 2:
		if year%4 == 0 && (year%100 != 0 || year%400 == 0) {
			return 29
		}
		return 28
	case 4, 6, 9, 11:
		return 30
	}
	return 31
}

// rowCivil is a date and time of day, checked for range.
type rowCivil struct{ year, month, day, hour, min, sec int }

// rowParseDate parses "YYYY-MM-DD"; rowParseClock "HH:MM:SS".
func rowParseDate(s string) (c rowCivil, ok bool) {
	if len(s) != 10 || s[4] != '-' || s[7] != '-' {
		return c, false
	}
	var ok1, ok2, ok3 bool
	c.year, ok1 = rowDigits(s[0:4])
	c.month, ok2 = rowDigits(s[5:7])
	c.day, ok3 = rowDigits(s[8:10])
	if !ok1 || !ok2 || !ok3 || c.month < 1 || c.month > 12 || c.day < 1 || c.day > daysIn(c.year, c.month) {
		return c, false
	}
	return c, true
}

func rowParseClock(s string, c *rowCivil) bool {
	if len(s) != 8 || s[2] != ':' || s[5] != ':' {
		return false
	}
	var ok1, ok2, ok3 bool
	c.hour, ok1 = rowDigits(s[0:2])
	c.min, ok2 = rowDigits(s[3:5])
	c.sec, ok3 = rowDigits(s[6:8])
	return ok1 && ok2 && ok3 && c.hour < 24 && c.min < 60 && c.sec < 60
}

func (c rowCivil) unix() int64 {
	return time.Date(c.year, time.Month(c.month), c.day, c.hour, c.min, c.sec, 0, time.UTC).Unix()
}

// flowFields is the number of fields of a spot-nfdump CSV line.
const flowFields = 27

// ParseFlow parses a line of spot-nfdump's CSV, the 27 fields
//
//	tr,try,trm,trd,trh,trm,trs,td,sa,da,sp,dp,pr,flg,fwd,stos,ipkt,ibyt,opkt,obyt,in,out,sas,das,dtos,dir,ra
//
// such as
//
//	2016-08-17 10:58:03,2016,8,17,10,58,3,1.524,10.1.1.23,198.51.100.10,51234,443,TCP,.AP.SF,0,0,12,4380,0,0,2,3,0,64496,0,0,10.0.0.1
//
// into a flow row. The time tr is taken as UTC (Spot runs nfdump with
// TZ=UTC) and its split fields try..trs must agree with it; the partition
// is its hour. Numbers are plain unsigned decimals within their column's
// range (ports and AS numbers as nfdump prints them must fit the table's
// int: an AS number above 2147483647 is an error), td is seconds, the
// addresses are IP addresses, and pr and flg are not empty.
func ParseFlow(line string) (FlowRow, error) {
	var f [flowFields]string
	if n, ok := rowSplitN(line, f[:]); !ok {
		return FlowRow{}, rowLineError(Flow, "%d fields, want %d", n, flowFields)
	}
	var r FlowRow
	c, ok := rowParseDate(f[0][:min(10, len(f[0]))])
	if !ok || len(f[0]) != 19 || f[0][10] != ' ' || !rowParseClock(f[0][11:], &c) {
		return FlowRow{}, rowFieldError(Flow, "treceived", f[0], `not a time "YYYY-MM-DD hh:mm:ss"`)
	}
	r.TReceived = f[0]
	r.UnixTstamp = c.unix()
	p := rowParser{t: Flow}
	r.TrYear = p.int32("tryear", f[1], 0, 9999)
	r.TrMonth = p.int32("trmonth", f[2], 1, 12)
	r.TrDay = p.int32("trday", f[3], 1, 31)
	r.TrHour = p.int32("trhour", f[4], 0, 23)
	r.TrMinute = p.int32("trminute", f[5], 0, 59)
	r.TrSec = p.int32("trsec", f[6], 0, 59)
	if p.err != nil {
		return FlowRow{}, p.err
	}
	for _, x := range [...]struct {
		col  string
		got  int32
		want int
		s    string
	}{
		{"tryear", r.TrYear, c.year, f[1]}, {"trmonth", r.TrMonth, c.month, f[2]}, {"trday", r.TrDay, c.day, f[3]},
		{"trhour", r.TrHour, c.hour, f[4]}, {"trminute", r.TrMinute, c.min, f[5]}, {"trsec", r.TrSec, c.sec, f[6]},
	} {
		if int(x.got) != x.want {
			return FlowRow{}, rowFieldError(Flow, x.col, x.s, fmt.Sprintf("does not agree with treceived %q", f[0]))
		}
	}
	r.TDur = p.duration("tdur", f[7])
	r.SIP = p.ip("sip", f[8])
	r.DIP = p.ip("dip", f[9])
	r.SPort = p.int32("sport", f[10], 0, math.MaxUint16)
	r.DPort = p.int32("dport", f[11], 0, math.MaxUint16)
	r.Proto = p.nonEmpty("proto", f[12])
	r.Flag = p.nonEmpty("flag", f[13])
	r.Fwd = p.int32("fwd", f[14], 0, math.MaxUint8)
	r.STos = p.int32("stos", f[15], 0, math.MaxUint8)
	r.IPkt = p.int64("ipkt", f[16])
	r.IByt = p.int64("ibyt", f[17])
	r.OPkt = p.int64("opkt", f[18])
	r.OByt = p.int64("obyt", f[19])
	r.Input = p.int32("input", f[20], 0, math.MaxInt32)
	r.Output = p.int32("output", f[21], 0, math.MaxInt32)
	r.SAS = p.int32("sas", f[22], 0, math.MaxInt32)
	r.DAS = p.int32("das", f[23], 0, math.MaxInt32)
	r.DTos = p.int32("dtos", f[24], 0, math.MaxUint8)
	r.Dir = p.int32("dir", f[25], 0, math.MaxUint8)
	r.RIP = p.ip("rip", f[26])
	if p.err != nil {
		return FlowRow{}, p.err
	}
	r.Y, r.M, r.D, r.H = c.year, c.month, c.day, c.hour
	return r, nil
}

// duration parses a non-negative decimal number of seconds such as
// "1.524" (nfdump's %.3f).
func (p *rowParser) duration(col, s string) float32 {
	if p.err != nil {
		return 0
	}
	dot := false
	ok := s != "" && s != "."
	for i := 0; i < len(s) && ok; i++ {
		switch c := s[i]; {
		case c == '.' && !dot:
			dot = true
		case c < '0' || c > '9':
			ok = false
		}
	}
	if ok {
		v, err := strconv.ParseFloat(s, 32)
		if err == nil {
			return float32(v)
		}
	}
	p.err = rowFieldError(p.t, col, s, "not a number of seconds")
	return 0
}

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

// proxyFields is the number of fields of a Bluecoat access log line.
const proxyFields = 27

// ParseProxy parses a line of a Bluecoat access log, 27 fields separated
// by blanks, a field in double quotes keeping its blanks (the quotes are
// removed, as Python's shlex does: a backslash outside quotes escapes the
// next character, inside them only " and \), in the log's order
//
//	date time time-taken c-ip cs-username cs-auth-group x-exception-id
//	sc-filter-result cs-categories cs(Referer) sc-status s-action cs-method
//	rs(Content-Type) cs-uri-scheme cs-host cs-uri-port cs-uri-path
//	cs-uri-query cs-uri-extension cs(User-Agent) s-ip sc-bytes cs-bytes
//	x-virus-id x-bluecoat-application-name x-bluecoat-application-operation
//
// into a proxy row (in the table's order) with fulluri added. The date and
// time must be "YYYY-MM-DD" and "hh:mm:ss" and give the partition;
// time-taken, sc-bytes and cs-bytes are unsigned decimals that fit an int;
// c-ip and s-ip are IP addresses. Comment lines (#Software, #Fields) are
// errors, as is any line that does not parse.
func ParseProxy(line string) (ProxyRow, error) {
	if strings.HasPrefix(line, "#") {
		return ProxyRow{}, rowLineError(Proxy, "a comment line")
	}
	var f [proxyFields]string
	n, err := splitShell(line, f[:])
	if err != nil {
		return ProxyRow{}, rowLineError(Proxy, "%v", err)
	}
	if n != proxyFields {
		return ProxyRow{}, rowLineError(Proxy, "%d fields, want %d", n, proxyFields)
	}
	c, ok := rowParseDate(f[0])
	if !ok {
		return ProxyRow{}, rowFieldError(Proxy, "p_date", f[0], `not a date "YYYY-MM-DD"`)
	}
	if !rowParseClock(f[1], &c) {
		return ProxyRow{}, rowFieldError(Proxy, "p_time", f[1], `not a time "hh:mm:ss"`)
	}
	p := rowParser{t: Proxy}
	r := ProxyRow{
		PDate:        f[0],
		PTime:        f[1],
		Duration:     p.int32("duration", f[2], 0, math.MaxInt32),
		ClientIP:     p.ip("clientip", f[3]),
		Username:     f[4],
		AuthGroup:    f[5],
		ExceptionID:  f[6],
		FilterResult: f[7],
		WebCat:       f[8],
		Referer:      f[9],
		RespCode:     p.nonEmpty("respcode", f[10]),
		Action:       f[11],
		ReqMethod:    p.nonEmpty("reqmethod", f[12]),
		ResContType:  f[13],
		URIScheme:    f[14],
		Host:         p.nonEmpty("host", f[15]),
		URIPort:      f[16],
		URIPath:      f[17],
		URIQuery:     f[18],
		URIExtension: f[19],
		UserAgent:    f[20],
		ServerIP:     p.ip("serverip", f[21]),
		SCBytes:      p.int32("scbytes", f[22], 0, math.MaxInt32),
		CSBytes:      p.int32("csbytes", f[23], 0, math.MaxInt32),
		VirusID:      f[24],
		BCAppName:    f[25],
		BCAppOper:    f[26],
		Y:            f[0][0:4],
		M:            f[0][5:7],
		D:            f[0][8:10],
		H:            f[1][0:2],
	}
	if p.err != nil {
		return ProxyRow{}, p.err
	}
	r.FullURI = fullURI(r.Host, r.URIPath, r.URIQuery)
	return r, nil
}

// fullURI is Spot's fulluri: host, path and query, leaving out a path or
// query of one character ("-", or a path of "/").
func fullURI(host, path, query string) string {
	if len(path) <= 1 {
		path = ""
	}
	if len(query) <= 1 {
		query = ""
	}
	if path == "" && query == "" {
		return host
	}
	return host + path + query
}

// splitShell splits line into blank-separated words as Python's
// shlex.split with '"' as the only quote does, filling out and returning
// how many words the line has (counting past len(out)). A word without
// quotes or backslashes is a substring of line.
func splitShell(line string, out []string) (int, error) {
	n := 0
	i := 0
	for {
		for i < len(line) && shellBlank(line[i]) {
			i++
		}
		if i == len(line) {
			return n, nil
		}
		start := i
		simple := true
		for i < len(line) && !shellBlank(line[i]) {
			if line[i] == '"' || line[i] == '\\' {
				simple = false
				break
			}
			i++
		}
		var word string
		if simple {
			word = line[start:i]
		} else {
			var err error
			word, i, err = shellWord(line, start)
			if err != nil {
				return n, err
			}
		}
		if n < len(out) {
			out[n] = word
		}
		n++
	}
}

func shellBlank(c byte) bool { return c == ' ' || c == '\t' || c == '\r' || c == '\n' }

// shellWord reads the word starting at line[i] that holds quotes or
// backslashes, and returns it and where it ends.
func shellWord(line string, i int) (string, int, error) {
	var b strings.Builder
	for i < len(line) && !shellBlank(line[i]) {
		switch c := line[i]; c {
		case '\\':
			if i+1 == len(line) {
				return "", i, errors.New("no escaped character")
			}
			b.WriteByte(line[i+1])
			i += 2
		case '"':
			i++
			for {
				if i == len(line) {
					return "", i, errors.New("no closing quotation")
				}
				c := line[i]
				if c == '"' {
					i++
					break
				}
				if c == '\\' && i+1 < len(line) && (line[i+1] == '"' || line[i+1] == '\\') {
					b.WriteByte(line[i+1])
					i += 2
					continue
				}
				b.WriteByte(c)
				i++
			}
		default:
			b.WriteByte(c)
			i++
		}
	}
	return b.String(), i, nil
}
