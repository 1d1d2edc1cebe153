package wal

import (
	"fmt"
	"testing"
)

// BenchmarkAppend measures durable appends (each Append waits for its
// fsync) of records of a few sizes, from one goroutine and from many at
// once, where group commit shares the fsyncs. It reports records/s and
// records per fsync besides the usual figures.
func BenchmarkAppend(b *testing.B) {
	for _, size := range []int{128, 4 << 10, 64 << 10} {
		payload := make([]byte, size)
		for i := range payload {
			payload[i] = byte(i)
		}
		b.Run(fmt.Sprintf("sequential/%dB", size), func(b *testing.B) {
			l := openLog(b, b.TempDir())
			b.SetBytes(int64(size))
			b.ResetTimer()
			for b.Loop() {
				if _, err := l.Append(payload); err != nil {
					b.Fatal(err)
				}
			}
			reportAppends(b, l)
		})
		b.Run(fmt.Sprintf("parallel/%dB", size), func(b *testing.B) {
			l := openLog(b, b.TempDir())
			b.SetBytes(int64(size))
			b.SetParallelism(32) // 32 writers per core
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if _, err := l.Append(payload); err != nil {
						b.Error(err)
						return
					}
				}
			})
			reportAppends(b, l)
		})
	}
}

// reportAppends adds the records/s and records/fsync metrics.
func reportAppends(b *testing.B, l *Log) {
	st := l.Stats()
	b.ReportMetric(float64(st.Appends)/b.Elapsed().Seconds(), "records/s")
	if st.Syncs > 0 {
		b.ReportMetric(float64(st.Appends)/float64(st.Syncs), "records/fsync")
	}
}
