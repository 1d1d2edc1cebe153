package kudusink_test

import (
	"testing"

	"github.com/microbatch-go/microbatch/internal/kudutest"
	kudusink "github.com/microbatch-go/microbatch/sinks/kudu"
)

// BenchmarkSinkUpsert writes batches of 10,000 rows to the Kudu test
// server (3 tablet servers, 8 hash buckets) and reports rows/s and the
// bytes per row the servers received on the wire.
func BenchmarkSinkUpsert(b *testing.B) {
	c := kudutest.New(b, kudutest.WithTabletServers(3))
	j := newJobB(b, c.MasterAddrs(), "bench", kudusink.CreateIfMissing(kudusink.Hash(8, "source")))
	const n = 10_000
	rows := events(0, n)
	if err := j.batch(rows); err != nil { // create the table, warm up
		b.Fatal(err)
	}
	before := c.Stats().BytesReceived
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		if err := j.batch(rows); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	sent := c.Stats().BytesReceived - before
	b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "rows/s")
	b.ReportMetric(float64(sent)/(float64(n)*float64(b.N)), "wire-bytes/row")
}
