// Package kafkatest runs kfake, franz-go's in-process Kafka, on a loopback
// port for tests, with helpers to produce records and read offsets;
// NewSecure runs it with TLS (a CA made for the test) and SASL;
// NewGSSAPI with SASL GSSAPI against a krbtest realm, NewGSSAPITLS with
// both.
package kafkatest

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
)

// Cluster is a kfake cluster for one test.
type Cluster struct {
	*kfake.Cluster
	Addrs []string // the brokers' host:port, on 127.0.0.1
	// Sec is how clients connect to a cluster made by NewSecure; nil for
	// New's plaintext cluster.
	Sec *Security
	// GSSAPI is the Kerberos side of a cluster made by NewGSSAPI; nil
	// for the others.
	GSSAPI     *GSSAPI
	t          testing.TB
	clientOpts []kgo.Opt // Sec's, for Client
}

// New starts a one-broker cluster with the given topics (name ->
// partitions); it stops when the test ends.
func New(t testing.TB, topics map[string]int32, opts ...kfake.Opt) *Cluster {
	t.Helper()
	all := append([]kfake.Opt{kfake.NumBrokers(1)}, opts...)
	for name, n := range topics {
		all = append(all, kfake.SeedTopics(n, name))
	}
	c, err := kfake.NewCluster(all...)
	if err != nil {
		t.Fatalf("kfake: %v", err)
	}
	t.Cleanup(c.Close)
	return &Cluster{Cluster: c, Addrs: c.ListenAddrs(), t: t}
}

// Client returns a franz-go client of the cluster, closed when the test
// ends; for a cluster made by NewSecure, with its TLS and SASL settings.
func (c *Cluster) Client(opts ...kgo.Opt) *kgo.Client {
	c.t.Helper()
	all := append([]kgo.Opt{kgo.SeedBrokers(c.Addrs...)}, c.clientOpts...)
	cl, err := kgo.NewClient(append(all, opts...)...)
	if err != nil {
		c.t.Fatalf("kgo.NewClient: %v", err)
	}
	c.t.Cleanup(cl.Close)
	return cl
}

// Produce writes the records synchronously and fails the test on error.
// Records without a partition set go through the default partitioner;
// set Partition and use ProduceTo for a fixed partition.
func (c *Cluster) Produce(records ...*kgo.Record) {
	c.t.Helper()
	cl := c.Client(kgo.RecordPartitioner(kgo.ManualPartitioner()))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := cl.ProduceSync(ctx, records...).FirstErr(); err != nil {
		c.t.Fatalf("produce: %v", err)
	}
}

// Committed returns the group's committed offsets by topic and partition.
func (c *Cluster) Committed(group string) map[string]map[int32]int64 {
	c.t.Helper()
	adm := kadm.NewClient(c.Client())
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	resp, err := adm.FetchOffsets(ctx, group)
	if err != nil {
		c.t.Fatalf("FetchOffsets(%s): %v", group, err)
	}
	out := map[string]map[int32]int64{}
	resp.Each(func(o kadm.OffsetResponse) {
		if o.Err != nil {
			c.t.Fatalf("FetchOffsets(%s) %s-%d: %v", group, o.Topic, o.Partition, o.Err)
		}
		if out[o.Topic] == nil {
			out[o.Topic] = map[int32]int64{}
		}
		out[o.Topic][o.Partition] = o.At
	})
	return out
}

// EndOffsets returns the topics' high watermarks.
func (c *Cluster) EndOffsets(topics ...string) map[string]map[int32]int64 {
	c.t.Helper()
	adm := kadm.NewClient(c.Client())
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	listed, err := adm.ListEndOffsets(ctx, topics...)
	if err != nil {
		c.t.Fatalf("ListEndOffsets: %v", err)
	}
	out := map[string]map[int32]int64{}
	listed.Each(func(o kadm.ListedOffset) {
		if out[o.Topic] == nil {
			out[o.Topic] = map[int32]int64{}
		}
		out[o.Topic][o.Partition] = o.Offset
	})
	return out
}

// ReadAll returns every record of the topic, from the start of each
// partition to its high watermark when ReadAll is called, ordered by
// partition then offset. It fails the test after 30 s.
func (c *Cluster) ReadAll(topic string) []*kgo.Record {
	c.t.Helper()
	ends := c.EndOffsets(topic)[topic]
	want := 0
	for _, end := range ends {
		want += int(end)
	}
	var out []*kgo.Record
	if want == 0 {
		return out
	}
	cl := c.Client(kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for len(out) < want {
		fetches := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			c.t.Fatalf("ReadAll(%s): %d of %d records after 30 s", topic, len(out), want)
		}
		fetches.EachError(func(topic string, p int32, err error) {
			c.t.Fatalf("ReadAll(%s): partition %d: %v", topic, p, err)
		})
		fetches.EachRecord(func(r *kgo.Record) {
			if r.Offset < ends[r.Partition] {
				out = append(out, r)
			}
		})
	}
	slices.SortFunc(out, func(a, b *kgo.Record) int {
		if a.Partition != b.Partition {
			return int(a.Partition - b.Partition)
		}
		return int(a.Offset - b.Offset)
	})
	return out
}

// ReadCommitted returns the committed records of the topic, as a
// read_committed consumer sees them, from the start of each partition to
// its last stable offset when ReadCommitted is called, ordered by
// partition then offset; transaction markers are left out. It fails the
// test after 30 s.
func (c *Cluster) ReadCommitted(topic string) []*kgo.Record {
	c.t.Helper()
	adm := kadm.NewClient(c.Client())
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	listed, err := adm.ListCommittedOffsets(ctx, topic)
	if err != nil {
		c.t.Fatalf("ListCommittedOffsets(%s): %v", topic, err)
	}
	ends := map[int32]int64{}
	left := 0
	listed.Each(func(o kadm.ListedOffset) {
		if o.Offset > 0 {
			ends[o.Partition] = o.Offset
			left++
		}
	})
	var out []*kgo.Record
	if left == 0 {
		return out
	}
	cl := c.Client(kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()), kgo.KeepControlRecords())
	for left > 0 {
		fetches := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			c.t.Fatalf("ReadCommitted(%s): %d partitions not read to their end after 30 s", topic, left)
		}
		fetches.EachError(func(topic string, p int32, err error) {
			c.t.Fatalf("ReadCommitted(%s): partition %d: %v", topic, p, err)
		})
		fetches.EachRecord(func(r *kgo.Record) {
			end, ok := ends[r.Partition]
			if !ok || r.Offset >= end {
				return
			}
			if !r.Attrs.IsControl() {
				out = append(out, r)
			}
			if r.Offset == end-1 {
				left--
			}
		})
	}
	slices.SortFunc(out, func(a, b *kgo.Record) int {
		if a.Partition != b.Partition {
			return int(a.Partition - b.Partition)
		}
		return int(a.Offset - b.Offset)
	})
	return out
}
