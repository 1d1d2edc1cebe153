package spote2e

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/microbatch-go/microbatch/examples/internal/spot"
	"github.com/microbatch-go/microbatch/internal/duckdbtest"
	"github.com/microbatch-go/microbatch/internal/kafkatest"
)

// The proxy pipeline against brokers with SASL SCRAM-SHA-512 over TLS:
// the collector publishes and the listener reads with the security flags
// (the CA file, the password in a file), one row per log entry as
// without security, and the password shows nowhere in what either
// printed.
func TestProxyEndToEndSecureKafka(t *testing.T) {
	collector, listener, _ := tools(t)
	const password = "Spot-scram-pw-5e1f0a-never-printed"
	cluster := kafkatest.NewSecure(t, map[string]int32{"spot-proxy": 2},
		kafkatest.Secure{TLS: true, Mechanism: "SCRAM-SHA-512", User: "spot", Password: password})
	dir := t.TempDir()
	logs := filepath.Join(dir, "logs")
	if err := os.Mkdir(logs, 0o755); err != nil {
		t.Fatal(err)
	}
	text, entries := proxyLog(200)
	if err := os.WriteFile(filepath.Join(logs, "access-0001.log"), []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}

	out, _, printed := pipelineOn(t, cluster, cluster.Sec.Flags(), collector, listener, spot.Proxy, logs, len(entries))

	var want []string
	for _, e := range entries {
		want = append(want, strings.Join([]string{e.date, e.time, strconv.Itoa(e.duration), e.clientip, e.host, e.respcode, e.useragent,
			strconv.Itoa(e.scbytes), strconv.Itoa(e.csbytes), e.fullURI(), e.y, e.m, e.d, e.h}, "|"))
	}
	table := "read_parquet(" + duckdbtest.Quote(filepath.Join(out, "**", "*.parquet")) + ", hive_partitioning = true, hive_types_autocast = false)"
	got := duckRows(t, "SELECT p_date, p_time, duration, clientip, host, respcode, useragent, scbytes, csbytes, fulluri, y, m, d, h FROM "+table)
	compareRows(t, "proxy rows against the log entries", got, want)
	if strings.Contains(printed, password) {
		t.Errorf("the password was printed:\n%s", printed)
	}
	if !strings.Contains(printed, "kafka_security=\"SASL SCRAM-SHA-512 user spot over TLS\"") {
		t.Errorf("the commands do not say how they connect:\n%s", printed)
	}
}
