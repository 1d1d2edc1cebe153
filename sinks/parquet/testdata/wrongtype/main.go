// Command wrongtype must not compile: each function below hands the
// Parquet sink a callback typed by another element type than the
// stream's, where the sink took it as an `any` option checked at Start
// before (PartitionBy, DeadLetter). TestWrongTypesDoNotCompile builds it
// and checks that the compiler refuses every one of them with a type
// mismatch naming the other type, on the line marked WANT. It lives in
// testdata, so that go build ./... and go vet ./... skip it.
package main

import (
	"github.com/microbatch-go/microbatch/dstream"
	parquetsink "github.com/microbatch-go/microbatch/sinks/parquet"
)

// event is the stream's element type.
type event struct {
	Source string `parquet:"-"`
	Value  int64  `parquet:"value"`
}

// other is another row type.
type other struct {
	Day string `parquet:"-"`
}

// partitionByOther partitions rows of the other type.
func partitionByOther(o other) []string { return []string{o.Day} }

// wrongPartitionWrite: WritePartitioned with a PartitionBy function of
// another type.
func wrongPartitionWrite(events *dstream.Stream[event]) error {
	return parquetsink.WritePartitioned(events, "out", parquetsink.PartitionBy([]string{"day"}, partitionByOther)) // WANT PartitionBy to WritePartitioned
}

// wrongPartitionNew: NewPartitioned for the stream's type with a
// PartitionBy function of another type.
func wrongPartitionNew() error {
	_, err := parquetsink.NewPartitioned[event]("out", parquetsink.PartitionBy([]string{"day"}, partitionByOther)) // WANT PartitionBy to NewPartitioned
	return err
}

// wrongPartitionWriteTo: a sink partitioned by another type, registered
// on the stream.
func wrongPartitionWriteTo(events *dstream.Stream[event]) error {
	sink, err := parquetsink.NewPartitioned("out", parquetsink.PartitionBy([]string{"day"}, partitionByOther))
	if err != nil {
		return err
	}
	return events.WriteTo(sink) // WANT a Sink of other to WriteTo
}

// wrongDeadLetter: a dead-letter function of another type.
func wrongDeadLetter(events *dstream.Stream[event]) error {
	sink, err := parquetsink.NewPartitioned("out", parquetsink.PartitionBy([]string{"source"}, func(e event) []string { return []string{e.Source} }))
	if err != nil {
		return err
	}
	return events.WriteTo(sink, dstream.WriteSpec[event]{DeadLetter: func(o other, err error) {}}) // WANT DeadLetter
}

func main() {
	_ = wrongPartitionWrite(nil)
	_ = wrongPartitionNew()
	_ = wrongPartitionWriteTo(nil)
	_ = wrongDeadLetter(nil)
}
