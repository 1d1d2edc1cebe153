package kafkasink_test

import (
	"context"
	"encoding/json"
	"log"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/microbatch-go/microbatch/dstream"
	kafkasink "github.com/microbatch-go/microbatch/sinks/kafka"
	"github.com/microbatch-go/microbatch/sources/kafka"
)

// A word count written to Kafka as JSON, keyed by word: at-least-once.
// The Encoder's functions take the stream's element type, so a function
// written for another type does not compile.
func ExampleWriteEncoded() {
	ssc, err := dstream.NewContext(10 * time.Second)
	if err != nil {
		log.Fatal(err)
	}
	brokers := []string{"localhost:9092"}
	ks := kafka.NewDirectStream(ssc, kafka.Subscribe("lines"), kafka.Brokers(brokers...), kafka.Group("wordcount"))
	words := dstream.FlatMap(ks.Stream(), func(r kafka.Record) []string { return strings.Fields(string(r.Value)) })
	counts := dstream.ReduceByKey(
		dstream.Map(words, func(w string) dstream.Pair[string, int] { return dstream.KV(w, 1) }),
		func(a, b int) int { return a + b })
	err = kafkasink.WriteEncoded(counts, "word-counts",
		kafkasink.Encode(func(p dstream.Pair[string, int]) ([]byte, error) { return json.Marshal(p.Value) }).
			WithKey(func(p dstream.Pair[string, int]) []byte { return []byte(p.Key) }),
		kafkasink.Brokers(brokers...))
	if err != nil {
		log.Fatal(err)
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	if err := ssc.Run(ctx); err != nil {
		log.Fatal(err)
	}
}

// A Kafka-to-Kafka job that writes each input record exactly once: the
// direct stream does not commit (ManualCommit); each batch's output and
// the batch's offsets are committed in one transaction.
func ExampleTransactional() {
	ssc, err := dstream.NewContext(time.Second)
	if err != nil {
		log.Fatal(err)
	}
	brokers := []string{"localhost:9092"}
	ks := kafka.NewDirectStream(ssc, kafka.Subscribe("orders"),
		kafka.Brokers(brokers...), kafka.Group("orders-etl"), kafka.ManualCommit())
	upper := dstream.Map(ks.Stream(), func(r kafka.Record) kafka.Record {
		r.Value = []byte(strings.ToUpper(string(r.Value)))
		return r // key, value, headers and timestamp are written
	})
	err = kafkasink.Write(upper, "orders-upper",
		kafkasink.Brokers(brokers...),
		kafkasink.Transactional("orders-etl-0", kafkasink.Offsets(ks, "orders-etl")))
	if err != nil {
		log.Fatal(err)
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	if err := ssc.Run(ctx); err != nil {
		log.Fatal(err)
	}
}

// A sink registered with its own dead-letter function: the records the
// sink rejects (an element its Encoder cannot encode, a record too large
// for the topic) are logged with the element's ID, and the rest of each
// batch is written.
func ExampleNew() {
	ssc, err := dstream.NewContext(time.Second)
	if err != nil {
		log.Fatal(err)
	}
	type event struct {
		ID   string
		Body map[string]any
	}
	events := dstream.QueueStream(ssc, dstream.NewQueue[event]())
	out, err := kafkasink.New("events",
		kafkasink.Encode(func(e event) ([]byte, error) { return json.Marshal(e.Body) }).
			WithKey(func(e event) []byte { return []byte(e.ID) }),
		kafkasink.Brokers("localhost:9092"), kafkasink.Logger(ssc.Logger()))
	if err != nil {
		log.Fatal(err)
	}
	err = events.WriteTo(out, dstream.WriteSpec[event]{DeadLetter: func(e event, err error) {
		ssc.Logger().Warn("event not produced", "id", e.ID, "error", err)
	}})
	if err != nil {
		log.Fatal(err)
	}
}
