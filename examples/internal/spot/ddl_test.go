package spot

import (
	"flag"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/parquet-go/parquet-go"
)

var update = flag.Bool("update", false, "rewrite the golden files testdata/ddl_*.golden")

// The statements for Spot's default database and HDFS layout.
func TestDDLGolden(t *testing.T) {
	for _, typ := range Types {
		t.Run(string(typ), func(t *testing.T) {
			got, err := DDL(typ, "spot", "/user/spot/"+string(typ)+"/hive")
			if err != nil {
				t.Fatal(err)
			}
			golden := filepath.Join("testdata", "ddl_"+string(typ)+".golden")
			if *update {
				if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run go test -update to write it)", err)
			}
			if got != string(want) {
				t.Errorf("DDL(%s):\n%s\nwant (%s):\n%s", typ, got, golden, want)
			}
		})
	}
}

// spotColumns are the columns of Spot's create_<type>_parquet.hql, as
// written there, with their Hive types: the row structs must give
// exactly these, in this order.
var spotColumns = map[Type]string{
	Flow: `treceived STRING, unix_tstamp BIGINT, tryear INT, trmonth INT, trday INT, trhour INT,
		trminute INT, trsec INT, tdur FLOAT, sip STRING, dip STRING, sport INT, dport INT, proto STRING,
		flag STRING, fwd INT, stos INT, ipkt BIGINT, ibyt BIGINT, opkt BIGINT, obyt BIGINT, input INT,
		output INT, sas INT, das INT, dtos INT, dir INT, rip STRING`,
	DNS: `frame_time STRING, unix_tstamp BIGINT, frame_len INT, ip_dst STRING, ip_src STRING,
		dns_qry_name STRING, dns_qry_class STRING, dns_qry_type INT, dns_qry_rcode INT, dns_a STRING`,
	Proxy: `p_date STRING, p_time STRING, clientip STRING, host STRING, reqmethod STRING, useragent STRING,
		resconttype STRING, duration INT, username STRING, authgroup STRING, exceptionid STRING,
		filterresult STRING, webcat STRING, referer STRING, respcode STRING, action STRING,
		urischeme STRING, uriport STRING, uripath STRING, uriquery STRING, uriextension STRING,
		serverip STRING, scbytes INT, csbytes INT, virusid STRING, bcappname STRING, bcappoper STRING,
		fulluri STRING`,
}

var spotPartitions = map[Type]string{
	Flow:  "y SMALLINT, m TINYINT, d TINYINT, h TINYINT",
	DNS:   "y SMALLINT, m TINYINT, d TINYINT, h TINYINT",
	Proxy: "y STRING, m STRING, d STRING, h STRING",
}

var ddlColumn = regexp.MustCompile(`(?m)^  (\w+) (\w+),?$`)

// The columns of the statement are those of the row's Parquet schema, in
// order, and those of Spot's table; the partition columns are not stored.
func TestDDLColumnsAreTheRowSchema(t *testing.T) {
	schemas := map[Type]*parquet.Schema{
		Flow:  parquet.SchemaOf(FlowRow{}),
		DNS:   parquet.SchemaOf(DNSRow{}),
		Proxy: parquet.SchemaOf(ProxyRow{}),
	}
	for _, typ := range Types {
		ddl, err := DDL(typ, "spot", "/x")
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, m := range ddlColumn.FindAllStringSubmatch(ddl, -1) {
			got = append(got, m[1]+" "+m[2])
		}
		want := strings.Fields(strings.ReplaceAll(spotColumns[typ], ",", ""))
		if len(got)*2 != len(want) {
			t.Fatalf("%s: %d columns, Spot's table has %d:\n%s", typ, len(got), len(want)/2, ddl)
		}
		fields := schemas[typ].Fields()
		if len(fields) != len(got) {
			t.Fatalf("%s: %d columns in the statement, %d in the Parquet schema", typ, len(got), len(fields))
		}
		for i, g := range got {
			if w := want[2*i] + " " + want[2*i+1]; g != w {
				t.Errorf("%s column %d: %q, Spot's table has %q", typ, i, g, w)
			}
			if name := strings.Fields(g)[0]; fields[i].Name() != name {
				t.Errorf("%s column %d: %q, the Parquet schema has %q", typ, i, name, fields[i].Name())
			}
			for _, p := range PartitionCols {
				if fields[i].Name() == p {
					t.Errorf("%s: partition column %s is stored in the files", typ, p)
				}
			}
		}
		if !strings.Contains(ddl, "PARTITIONED BY ("+spotPartitions[typ]+")") {
			t.Errorf("%s: partitions are not (%s):\n%s", typ, spotPartitions[typ], ddl)
		}
	}
	// dns_qry_type is the one nullable column.
	for _, f := range schemas[DNS].Fields() {
		if f.Optional() != (f.Name() == "dns_qry_type") {
			t.Errorf("dns column %s: optional=%v", f.Name(), f.Optional())
		}
	}
}

func TestDDLArguments(t *testing.T) {
	got, err := DDL(Flow, "spot_test", `hdfs://nn:8020/user/o'brien\spot`)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(got, `LOCATION 'hdfs://nn:8020/user/o\'brien\\spot';`) {
		t.Errorf("location not escaped:\n%s", got)
	}
	if !strings.HasPrefix(got, "CREATE EXTERNAL TABLE IF NOT EXISTS spot_test.flow (\n") {
		t.Errorf("wrong table name:\n%s", got)
	}
	for _, tc := range []struct {
		typ      Type
		db, loc  string
		errorHas string
	}{
		{"netflow", "spot", "/x", "unknown type"},
		{Flow, "", "/x", "database name"},
		{Flow, "spot; DROP TABLE x", "/x", "database name"},
		{Flow, "spot.x", "/x", "database name"},
		{DNS, "spot", "", "empty location"},
	} {
		if _, err := DDL(tc.typ, tc.db, tc.loc); err == nil || !strings.Contains(err.Error(), tc.errorHas) {
			t.Errorf("DDL(%q, %q, %q) = %v, want an error about %s", tc.typ, tc.db, tc.loc, err, tc.errorHas)
		}
	}
}
