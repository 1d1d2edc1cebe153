// Command watermill runs the bench's word count on
// ThreeDotsLabs/watermill (v1.5.1), a pub/sub message router, as a child
// of the bench command (see bench/internal/benchkit).
package main

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/ThreeDotsLabs/watermill/pubsub/gochannel"

	"github.com/microbatch-go/microbatch/bench/internal/benchkit"
)

func main() {
	benchkit.Main(map[string]func(benchkit.Spec) (benchkit.Result, error){
		"wordcount": wordCount,
	})
}

// linesPerMessage is how many lines one message carries.
const linesPerMessage = 1000

// wordCount publishes the corpus to a GoChannel pub/sub, 1000 lines per
// message; a router's consumer handler (which the router runs in a
// goroutine per message) counts the words of its message in a map of its
// own and merges it into the total under a lock. The router runs for the
// whole measurement, like a long-running service; each pass publishes
// the corpus once and waits until every message has been handled.
func wordCount(spec benchkit.Spec) (benchkit.Result, error) {
	c := benchkit.Words(spec.Lines, spec.PerLine, spec.Distinct, spec.Seed)
	var payloads [][]byte
	for i := 0; i < len(c.Lines); i += linesPerMessage {
		payloads = append(payloads, []byte(strings.Join(c.Lines[i:min(i+linesPerMessage, len(c.Lines))], "\n")))
	}
	logger := watermill.NopLogger{}
	pubSub := gochannel.NewGoChannel(gochannel.Config{OutputChannelBuffer: 64}, logger)
	router, err := message.NewRouter(message.RouterConfig{}, logger)
	if err != nil {
		return benchkit.Result{}, fmt.Errorf("router: %w", err)
	}
	var (
		mu      sync.Mutex
		total   map[string]int
		handled sync.WaitGroup
	)
	router.AddConsumerHandler("count", topic, pubSub, func(msg *message.Message) error {
		m := make(map[string]int, linesPerMessage*4)
		for _, w := range strings.Fields(string(msg.Payload)) {
			m[w]++
		}
		mu.Lock()
		benchkit.MergeCounts(total, m)
		mu.Unlock()
		handled.Done()
		return nil
	})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	runErr := make(chan error, 1)
	go func() { runErr <- router.Run(ctx) }()
	select {
	case <-router.Running():
	case err := <-runErr:
		return benchkit.Result{}, fmt.Errorf("router: %w", err)
	case <-time.After(time.Minute):
		return benchkit.Result{}, fmt.Errorf("router did not start")
	}
	defer router.Close()
	return benchkit.Measure(spec.MinTime, spec.MaxPasses, int64(len(c.Lines)), func() error {
		mu.Lock()
		total = map[string]int{}
		mu.Unlock()
		handled.Add(len(payloads))
		for _, p := range payloads {
			if err := pubSub.Publish(topic, message.NewMessage(watermill.NewUUID(), p)); err != nil {
				return fmt.Errorf("publish: %w", err)
			}
		}
		handled.Wait()
		mu.Lock()
		defer mu.Unlock()
		sum, distinct := benchkit.Totals(total)
		return benchkit.CheckCounts(c, sum, distinct)
	})
}

// topic is the topic the lines are published to.
const topic = "lines"
