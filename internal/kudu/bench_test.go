package kudu

import (
	"fmt"
	"testing"
	"time"
)

// BenchmarkEncodeRows measures building, validating, partition-keying and
// encoding UPSERTs of a typical 6-column row.
func BenchmarkEncodeRows(b *testing.B) {
	s := mustSchema(b,
		Column{Name: "id", Type: TypeInt64, Key: true},
		Column{Name: "name", Type: TypeString},
		Column{Name: "score", Type: TypeDouble},
		Column{Name: "at", Type: TypeUnixtimeMicros},
		Column{Name: "n", Type: TypeInt32, Nullable: true},
		Column{Name: "payload", Type: TypeBinary, Nullable: true})
	p, err := resolvePartitioning(&PartitionSchema{Hash: []HashSchema{{Columns: []string{"id"}, NumBuckets: 16}}, RangeColumns: []string{"id"}}, s)
	if err != nil {
		b.Fatal(err)
	}
	const batch = 1000
	names := make([]string, batch)
	for i := range names {
		names[i] = fmt.Sprintf("user-%06d", i)
	}
	payload := []byte("0123456789abcdef0123456789abcdef")
	now := time.Now()
	ops := make([]*Operation, batch)
	var rows, indirect, key []byte
	b.ReportAllocs()
	b.ResetTimer()
	total := 0
	for b.Loop() {
		rows, indirect = rows[:0], indirect[:0]
		for i := range ops {
			op := s.NewOperation(OpUpsert)
			op.SetIndex(0, int64(i))
			op.SetIndex(1, names[i])
			op.SetIndex(2, float64(i)/3)
			op.SetIndex(3, now)
			if i%2 == 0 {
				op.SetIndex(4, nil)
			} else {
				op.SetIndex(4, int32(i))
			}
			op.SetIndex(5, payload)
			if err := op.validate(op.Type, DefaultMaxCellBytes); err != nil {
				b.Fatal(err)
			}
			key = p.appendPartitionKey(key[:0], &op.Row)
			rows, indirect = op.appendRow(rows, indirect, op.Type)
			ops[i] = op
		}
		total += batch
	}
	b.ReportMetric(float64(total)/b.Elapsed().Seconds(), "rows/s")
	b.ReportMetric(float64(len(rows)+len(indirect))/batch, "bytes/row")
}
