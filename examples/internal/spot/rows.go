package spot

import (
	"strconv"
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
