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
func ExampleWrite() {
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
	err = kafkasink.Write(counts, "word-counts",
		kafkasink.Brokers(brokers...),
		kafkasink.Key(func(p dstream.Pair[string, int]) []byte { return []byte(p.Key) }),
		kafkasink.Value(func(p dstream.Pair[string, int]) ([]byte, error) { return json.Marshal(p.Value) }))
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
