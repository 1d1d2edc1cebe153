package kafka

import (
	"context"
	"errors"
	"fmt"
	"net"
	"slices"
	"sync"

	"github.com/microbatch-go/microbatch/dstream"
	"github.com/microbatch-go/microbatch/internal/kafkaprobe"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// Start-up checks and health reports of the direct stream: Start fails
// with a *dstream.StartError naming "kafka brokers <list>" when no broker
// answers or the brokers refuse the client's TLS or SASL settings, or
// "kafka topic <name>" when a topic of Subscribe or Assign does not
// exist; while the job runs, the brokers and topics are reported
// degraded (dstream.Context.ReportHealth) when listing offsets or fetching
// fails, and healthy again on the next successful listing.

// addStartChecks registers the stream's start-up checks with c: the
// brokers, and each topic the strategy names. They share one metadata
// request.
func (d *DirectStream) addStartChecks(c *dstream.Context) {
	topics := strategyTopics(d.strat)
	p := &metadataProbe{d: d, topics: topics}
	c.AddStartCheck(d.brokers, func(ctx context.Context) error {
		_, err := p.get(ctx)
		return err
	})
	for _, topic := range topics {
		c.AddStartCheck("kafka topic "+topic, func(ctx context.Context) error {
			md, err := p.get(ctx)
			if err != nil {
				return err // the brokers' check names it
			}
			return d.checkTopic(md, topic)
		})
	}
}

// strategyTopics returns the topics a strategy names, sorted: none for
// SubscribePattern.
func strategyTopics(s Strategy) []string {
	var topics []string
	switch s := s.(type) {
	case subscribe:
		topics = slices.Clone(s.topics)
	case assign:
		for _, tp := range s.tps {
			topics = append(topics, tp.Topic)
		}
	}
	slices.Sort(topics)
	return slices.Compact(topics)
}

// checkTopic returns why topic, as md describes it, cannot be read: it
// does not exist, or misses a partition that Assign names.
func (d *DirectStream) checkTopic(md *kmsg.MetadataResponse, topic string) error {
	for _, t := range md.Topics {
		if t.Topic == nil || *t.Topic != topic {
			continue
		}
		if err := kerr.ErrorForCode(t.ErrorCode); err != nil && (errors.Is(err, kerr.UnknownTopicOrPartition) || !kerr.IsRetriable(err)) {
			return topicErr(err)
		}
		a, ok := d.strat.(assign)
		if !ok || len(t.Partitions) == 0 {
			return nil
		}
		have := map[int32]bool{}
		for _, p := range t.Partitions {
			have[p.Partition] = true
		}
		for _, tp := range a.tps {
			if tp.Topic == topic && !have[tp.Partition] {
				return &missingError{
					msg: fmt.Sprintf("partition %d does not exist (the topic has %d)", tp.Partition, len(t.Partitions)),
					err: kerr.UnknownTopicOrPartition,
				}
			}
		}
		return nil
	}
	return topicErr(kerr.UnknownTopicOrPartition)
}

// metadataProbe asks the brokers for the metadata of the stream's topics
// once, for every start-up check. The checks run concurrently with one
// context, so the first to call get runs the request for all.
type metadataProbe struct {
	d      *DirectStream
	topics []string
	once   sync.Once
	md     *kmsg.MetadataResponse
	err    error
}

func (p *metadataProbe) get(ctx context.Context) (*kmsg.MetadataResponse, error) {
	p.once.Do(func() { p.md, p.err = p.d.probeMetadata(ctx, p.topics) })
	return p.md, p.err
}

// probeMetadata sends a metadata request for topics (none: only the
// brokers) to every seed broker at once, with a client of its own that
// is closed before it returns, and returns the first answer. A broker that
// cannot be reached is not retried: Start fails at once, naming why; so
// does a broker that refuses the client's TLS or SASL settings, saying
// why in one line ("SASL authentication failed: invalid credentials
// (mechanism SCRAM-SHA-256)", "TLS: certificate signed by unknown
// authority ...").
func (d *DirectStream) probeMetadata(ctx context.Context, topics []string) (*kmsg.MetadataResponse, error) {
	return kafkaprobe.Metadata(ctx, d.clientOpts(ctx), topics)
}

// dialError returns the network error inside err, which names the
// address and the cause ("dial tcp 127.0.0.1:1: connect: connection
// refused"), without franz-go's wrapping; other errors as they are.
func dialError(err error) error {
	var op *net.OpError
	if errors.As(err, &op) {
		return op
	}
	return err
}

// missingError is a topic or partition that does not exist: its message
// says so plainly, and it wraps Kafka's error code.
type missingError struct {
	msg string
	err error
}

func (e *missingError) Error() string { return e.msg }
func (e *missingError) Unwrap() error { return e.err }

// topicErr returns err about a topic, with UNKNOWN_TOPIC_OR_PARTITION
// said plainly.
func topicErr(err error) error {
	if errors.Is(err, kerr.UnknownTopicOrPartition) || errors.Is(err, kerr.UnknownTopicID) {
		return &missingError{msg: "topic does not exist", err: err}
	}
	return err
}

// reportTopic reports the health of topic's component, "kafka topic
// <name>"; nil clears it.
func (d *DirectStream) reportTopic(topic string, err error) {
	d.mu.Lock()
	if err != nil {
		d.unhealthy[topic] = true
	} else {
		delete(d.unhealthy, topic)
	}
	d.mu.Unlock()
	d.ssc.ReportHealth("kafka topic "+topic, err)
}

// clearTopicsExcept clears the topics reported degraded that the stream
// no longer reads (deleted topics of a pattern, partitions moved to
// another member), except those in keep.
func (d *DirectStream) clearTopicsExcept(keep []string) {
	var gone []string
	d.mu.Lock()
	for t := range d.unhealthy {
		if !slices.Contains(keep, t) {
			gone = append(gone, t)
			delete(d.unhealthy, t)
		}
	}
	d.mu.Unlock()
	for _, t := range gone {
		d.ssc.ReportHealth("kafka topic "+t, nil)
	}
}
