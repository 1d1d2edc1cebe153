package dstream

// The graph of a Context: its streams, inputs and output operations, how
// they are checked at Start and which of them run each batch.

import (
	"errors"
	"fmt"
)

// graph is the part of a Context that describes the job. It is built
// under Context.mu until Start, and read-only afterwards.
type graph struct {
	nodes       []*node
	outputs     []*outputOp
	inputs      []*node
	buildErrs   []error
	opCounts    map[string]int
	checks      []startCheck    // AddStartCheck
	sinks       []sinkLifecycle // the Outputs of WriteTo, opened at Start
	reserved    map[string]bool // Reserve
	forced      []*node         // reachable stateful streams and direct inputs, in creation order
	keeping     []*node         // nodes that keep batches, to forget old ones
	receivers   []receiverInput
	directs     []directStarter // inputs without a receiver, in creation order
	stateful    []opSig         // the stateful operators, for checkpoints
	maxRemember int64           // the longest remember duration of an input (ns)
}

// newNodeLocked creates a node and gives it a default name. Only a graph
// that can still change records it: a node made after Start is invalid
// and never runs. c.mu must be held.
func (c *Context) newNodeLocked(op string) *node {
	n := &node{c: c, id: len(c.nodes), op: op, name: op}
	if c.state == StateInitialized {
		c.opCounts[op]++
		n.name = fmt.Sprintf("%s#%d", op, c.opCounts[op])
		c.nodes = append(c.nodes, n)
	}
	return n
}

// buildableLocked reports whether the graph can still change.
func (c *Context) buildableLocked() error {
	switch c.state {
	case StateActive:
		return ErrContextStarted
	case StateStopped:
		return ErrContextStopped
	}
	return nil
}

// Reserve claims name in this context for one user, such as a Kafka
// consumer group for one direct stream, and reports whether it was free:
// false means another user of this context reserved it before. Connectors
// use it to refuse two streams of one job sharing what must not be
// shared; names are the connector's to choose (prefix them with the
// package name). Reservations last as long as the context.
func (c *Context) Reserve(name string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.reserved[name] {
		return false
	}
	if c.reserved == nil {
		c.reserved = map[string]bool{}
	}
	c.reserved[name] = true
	return true
}

// validateLocked checks the graph before Start.
func (c *Context) validateLocked() error {
	if len(c.buildErrs) > 0 {
		return errors.Join(c.buildErrs...)
	}
	if len(c.outputs) == 0 {
		return ErrNoOutputOperations
	}
	for _, n := range c.nodes {
		if n.store == nil || n.err != nil {
			continue
		}
		if c.ckpt == nil && !c.cfg.inMemoryState {
			return fmt.Errorf("%w (%s)", ErrCheckpointRequired, n.name)
		}
	}
	if c.ckpt != nil {
		for _, n := range c.inputs {
			if _, ok := n.input.(checkpointInput); !ok {
				return fmt.Errorf("%w: %s: its data is not kept, so it cannot be recovered from the checkpoint directory", ErrNotCheckpointable, n.name)
			}
		}
	}
	seen := map[string]*node{}
	for _, n := range c.nodes {
		if other, ok := seen[n.name]; ok {
			return fmt.Errorf("%w: %q names both a %s and a %s", ErrDuplicateName, n.name, other.op, n.op)
		}
		seen[n.name] = n
	}
	return nil
}

// prepareLocked marks what the output operations reach, decides which
// streams keep their batches, and sets how long they keep them (Spark's
// DStream.initialize and remember).
func (c *Context) prepareLocked() {
	for _, o := range c.outputs {
		markReachable(o.n)
		o.n.consumers++
	}
	for _, n := range c.nodes {
		if !n.reachable {
			continue
		}
		for _, p := range n.parents {
			p.consumers++
		}
	}
	for _, n := range c.nodes {
		if !n.reachable && n.input == nil {
			continue
		}
		// A stateful stream's batch stays valid, without a copy, until its
		// next batch is computed (see Stream.get); it is copied only when
		// older batches must be kept.
		if n.stateful {
			n.cache = n.sliced || c.cfg.remember > 0
		} else {
			n.cache = n.input != nil || n.sliced || n.consumers > 1
		}
		// Stateful streams, and inputs read when their batch runs, are
		// computed at every batch time even when no output needs that
		// time (a window with a longer slide reads it later): state must
		// see every batch, and an input's batch must be read before its
		// Done reports it processed.
		_, direct := n.input.(directStarter)
		if (n.stateful || direct) && n.reachable {
			c.forced = append(c.forced, n)
		}
		if n.cache {
			c.keeping = append(c.keeping, n)
		}
	}
	// Minimum remember durations, then propagation from the outputs
	// downwards: a parent keeps at least what its children need.
	for _, n := range c.nodes {
		min := n.slide
		if n.checkpointInterval > 0 && min <= n.checkpointInterval {
			min = 2 * n.checkpointInterval
		}
		n.remember = max(n.remember, min)
	}
	var remember func(n *node, d int64)
	remember = func(n *node, d int64) {
		if d > n.remember {
			n.remember = d
		}
		for _, p := range n.parents {
			remember(p, n.remember+n.rememberExtra)
		}
	}
	for _, o := range c.outputs {
		remember(o.n, int64(c.cfg.remember))
	}
	c.stateful = c.signaturesLocked()
	for _, n := range c.inputs {
		c.maxRemember = max(c.maxRemember, n.remember)
	}
	if c.ckpt != nil {
		for _, n := range c.nodes {
			if n.store != nil && n.reachable && n.checkpointInterval > 0 {
				if c.ckpt.stateInterval == 0 || n.checkpointInterval < c.ckpt.stateInterval {
					c.ckpt.stateInterval = n.checkpointInterval
				}
			}
		}
		for _, n := range c.inputs {
			if ci, ok := n.input.(checkpointInput); ok && !ci.recoverable() {
				c.log.Warn("dstream: this input cannot replay its data after a restart: records received but not yet processed are lost (a receiver needs the write-ahead log)", "stream", n.name)
			}
		}
	}
}

func markReachable(n *node) {
	if n.reachable {
		return
	}
	n.reachable = true
	for _, p := range n.parents {
		markReachable(p)
	}
}
