// Command wrongtype must not compile: each line marked "WANT" hands a
// callback typed for another element type than the stream's to what
// builds or registers a Kafka sink (the callbacks that the sink's options
// took as untyped functions, checked only when the job was built, before
// the sink became a dstream.Output). TestWrongTypesDoNotCompile builds it
// and checks that the compiler refuses every marked line. It is under
// testdata so that go build ./... and go vet ./... skip it.
package main

import (
	"time"

	"github.com/microbatch-go/microbatch/dstream"
	kafkasink "github.com/microbatch-go/microbatch/sinks/kafka"
	"github.com/twmb/franz-go/pkg/kgo"
)

type event struct{ User string }

func main() {
	ssc, _ := dstream.NewContext(time.Second)
	strs := dstream.QueueStream(ssc, dstream.NewQueue[string]())
	b := kafkasink.Brokers("localhost:9092")
	value := kafkasink.Encode(func(s string) ([]byte, error) { return []byte(s), nil })

	_ = kafkasink.WriteEncoded(strs, "t", kafkasink.Encode(func(e event) ([]byte, error) { return nil, nil }), b) // WANT Value
	_ = kafkasink.WriteEncoded(strs, "t", value.WithKey(func(e event) []byte { return nil }), b)                  // WANT Key
	_ = kafkasink.WriteEncoded(strs, "t", value.WithHeaders(func(e event) []kgo.RecordHeader { return nil }), b)  // WANT Headers
	_ = kafkasink.WriteEncoded(strs, "", value.WithTopic(func(e event) string { return "" }), b)                  // WANT TopicFunc
	_ = kafkasink.Write(strs, "t", b, kafkasink.Encode(func(e event) ([]byte, error) { return nil, nil }))        // WANT Encoder as an Option

	out, _ := kafkasink.New("t", value, b)
	_ = strs.WriteTo(out, dstream.WriteSpec[string]{DeadLetter: func(e event, err error) {}}) // WANT DeadLetter
	events, _ := kafkasink.New("t", kafkasink.Encode(func(e event) ([]byte, error) { return nil, nil }), b)
	_ = strs.WriteTo(events) // WANT Sink of another type
}
