// Command devkafka runs a local Kafka-protocol broker (kfake, franz-go's
// in-process Kafka) for trying the examples across processes, with no JVM
// and nothing to install:
//
//	go run ./examples/devkafka -addr 127.0.0.1:9092 -topics words:4,spot-flow:4
//
// It runs until interrupted. Any Kafka client can use it: the examples'
// -brokers flag, kcat, franz-go, librdkafka. It is a development broker:
// one node, no replication, data in memory unless -data is given.
//
// Flags:
//
//	-addr HOST:PORT   where to listen (default 127.0.0.1:9092)
//	-topics LIST      topics to create, as name:partitions,... (default words:4)
//	-data DIR         keep the broker's data in DIR across restarts
//	-v                log the broker's own messages
//
// Every example also takes -h (the flags, exit 0), -version (the build's
// version, exit 0), -log-format text|json and -log-level
// debug|info|warn|error (see package runner).
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"

	"github.com/microbatch-go/microbatch/runner"
	"github.com/twmb/franz-go/pkg/kfake"
)

func main() { runner.Main("devkafka", run) }

// topic is one -topics entry.
type topic struct {
	name       string
	partitions int32
}

// parseTopics parses "name:partitions,...". A name without ":n" gets one
// partition.
func parseTopics(s string) ([]topic, error) {
	var out []topic
	for _, item := range strings.Split(s, ",") {
		item = strings.TrimSpace(item)
		if item == "" {
			continue
		}
		name, n, found := strings.Cut(item, ":")
		t := topic{name: name, partitions: 1}
		if found {
			p, err := strconv.ParseInt(n, 10, 32)
			if err != nil || p < 1 {
				return nil, fmt.Errorf("-topics: %q: partitions must be a positive number", item)
			}
			t.partitions = int32(p)
		}
		if name == "" {
			return nil, fmt.Errorf("-topics: %q: empty topic name", item)
		}
		out = append(out, t)
	}
	return out, nil
}

// run starts the broker and serves until ctx is done. It prints the
// address it listens on to stdout once ready.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("devkafka", flag.ContinueOnError)
	addr := fs.String("addr", "127.0.0.1:9092", "where to listen, host:port")
	topicsFlag := fs.String("topics", "words:4", "topics to create, as name:partitions,...")
	data := fs.String("data", "", "keep the broker's data in this directory across restarts")
	verbose := fs.Bool("v", false, "log the broker's own messages")
	if err := runner.Parse(fs, args, stderr); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return runner.Usagef("unexpected arguments %v", fs.Args())
	}
	topics, err := parseTopics(*topicsFlag)
	if err != nil {
		return err
	}
	if _, _, err := net.SplitHostPort(*addr); err != nil {
		return fmt.Errorf("-addr %q: %w", *addr, err)
	}
	// kfake listens on 127.0.0.1 by default; listen where -addr says.
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return fmt.Errorf("listening on %s: %w", *addr, err)
	}
	opts := []kfake.Opt{
		kfake.NumBrokers(1),
		kfake.ListenFn(func(string, string) (net.Listener, error) { return ln, nil }),
		kfake.AllowAutoTopicCreation(),
	}
	for _, t := range topics {
		opts = append(opts, kfake.SeedTopics(t.partitions, t.name))
	}
	if *data != "" {
		opts = append(opts, kfake.DataDir(*data))
	}
	if *verbose {
		opts = append(opts, kfake.WithLogger(kfake.BasicLogger(stderr, kfake.LogLevelInfo)))
	}
	c, err := kfake.NewCluster(opts...)
	if err != nil {
		ln.Close()
		return fmt.Errorf("starting the broker: %w", err)
	}
	defer c.Close()
	var names []string
	for _, t := range topics {
		names = append(names, fmt.Sprintf("%s (%d partitions)", t.name, t.partitions))
	}
	fmt.Fprintf(stdout, "devkafka: Kafka protocol broker listening on %s; topics: %s\n", ln.Addr(), strings.Join(names, ", "))
	<-ctx.Done()
	fmt.Fprintln(stdout, "devkafka: stopping")
	return nil
}
