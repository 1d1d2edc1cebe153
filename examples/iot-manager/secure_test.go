package main

import (
	"maps"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/microbatch-go/microbatch/internal/duckdbtest"
	"github.com/microbatch-go/microbatch/internal/kafkatest"
	"github.com/microbatch-go/microbatch/internal/kudutest"
	"github.com/microbatch-go/microbatch/internal/proctest"
	"github.com/microbatch-go/microbatch/internal/testtool"
)

// TestEndToEnd against brokers with SASL SCRAM-SHA-256 over TLS (a CA of
// the test's own): with -kafka-tls-ca, -kafka-sasl-mechanism,
// -kafka-sasl-user and -kafka-sasl-password-file, every event lands once
// as in the unsecured run, with the same Kudu rows, dead letters and
// committed offsets, and the password shows nowhere in what the manager
// printed (log and progress lines) nor in anything its status page serves
// (the page, the API's every batch, /metrics, /healthz, /readyz). Kudu
// and the Parquet directory stay unsecured here.
func TestEndToEndSecureKafka(t *testing.T) {
	duckdbtest.Require(t)
	const password = "IoT-scram-pw-93c2d1-never-printed"
	in := newE2EInput(t)
	c := kafkatest.NewSecure(t, map[string]int32{e2eTopic: e2ePartitions},
		kafkatest.Secure{TLS: true, Mechanism: "SCRAM-SHA-256", User: "daf-iot", Password: password})
	kc := kudutest.New(t)
	dir := t.TempDir()
	out, dead := filepath.Join(dir, "events"), filepath.Join(dir, "dead")
	args := append([]string{"-brokers", c.Addrs[0], "-hdfs-out", out, "-dead-letter", dead, "-batch", "500ms",
		"-kudu-masters", strings.Join(kc.MasterAddrs(), ","), "-kudu-buckets", "4", "-max-message-bytes", strconv.Itoa(e2eMaxMessage)},
		c.Sec.Flags()...)
	args = append(args, "-ui", "127.0.0.1:0")
	var pages string
	recs, stderr := runManagerThen(t, c, in, func(p *proctest.Proc) {
		url := p.WaitFor(t, p.Stderr, regexp.MustCompile(`msg="status page" url=(\S+)`), 10*time.Second)[1]
		pages = testtool.StatusPageText(t, url)
	}, args...)
	if !strings.Contains(pages, "microbatch_streaming_records_processed_total") {
		t.Errorf("the status page's text lacks its metrics:\n%s", pages)
	}
	testtool.NoSecrets(t, "the status page", pages, password)

	checkParquetDuckDB(t, out, in.hdfs)
	checkKudu(t, kc, "Events", in.kudu)
	checkDeadLetters(t, in, recs, readDeadLetters(t, dead))
	ends := c.EndOffsets(e2eTopic)[e2eTopic]
	if got := c.Committed("daf-iot-manager")[e2eTopic]; !maps.Equal(got, ends) {
		t.Errorf("committed offsets %v, want the ends %v", got, ends)
	}
	testtool.NoSecrets(t, "the manager's output", stderr, password)
}
