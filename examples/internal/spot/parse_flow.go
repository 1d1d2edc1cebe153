package spot

import (
	"fmt"
	"math"
	"strconv"
)

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
