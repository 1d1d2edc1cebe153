package dstream

import (
	"fmt"
	"math"
	"slices"
	"sync"
	"time"
)

// Defaults of the PID rate estimator, Spark's
// spark.streaming.backpressure.pid.* settings.
const (
	// DefaultPIDProportional weighs the difference between the last
	// estimate and the measured processing rate (pid.proportional).
	DefaultPIDProportional = 1.0
	// DefaultPIDIntegral weighs the backlog, measured by the scheduling
	// delay (pid.integral).
	DefaultPIDIntegral = 0.2
	// DefaultPIDDerivative weighs how fast the error changes (pid.derived).
	DefaultPIDDerivative = 0.0
	// DefaultPIDMinRate is the lowest rate the estimator returns, in
	// records per second, so that a stream always gets some data to
	// measure (pid.minRate).
	DefaultPIDMinRate = 100.0
)

// pidRateEstimator estimates how many records per second an input stream
// should ingest so that batches are processed as fast as they arrive: a
// proportional-integral-derivative controller on the ingestion rate,
// Spark's pidRateEstimator. Backpressure (WithBackpressure) runs one per
// rate-controlled input stream; connectors may run their own.
//
// It is safe for concurrent use.
type pidRateEstimator struct {
	interval float64 // batch interval (s)
	kp       float64
	ki       float64
	kd       float64
	minRate  float64

	mu          sync.Mutex
	seeded      bool      // a first batch has been seen
	latestTime  time.Time // time of the last batch used
	latestRate  float64   // the last estimate (records/s)
	latestError float64   // the last error (records/s)
}

// newPIDRateEstimator returns an estimator for a stream with the given
// batch interval and gains. As in Spark, the batch interval and minRate
// must be positive and the gains zero or more; the defaults are
// DefaultPIDProportional, DefaultPIDIntegral, DefaultPIDDerivative and
// DefaultPIDMinRate. An invalid argument returns an error wrapping
// ErrInvalidOption.
func newPIDRateEstimator(batchInterval time.Duration, proportional, integral, derivative, minRate float64) (*pidRateEstimator, error) {
	if batchInterval <= 0 {
		return nil, fmt.Errorf("%w: PID rate estimator batch interval %v must be positive", ErrInvalidOption, batchInterval)
	}
	if err := checkPID(proportional, integral, derivative, minRate); err != nil {
		return nil, err
	}
	return &pidRateEstimator{
		interval: batchInterval.Seconds(),
		kp:       proportional,
		ki:       integral,
		kd:       derivative,
		minRate:  minRate,
	}, nil
}

// checkPID validates the gains and minimum rate of a PID estimator. NaN and
// infinite values are rejected too, since they would make every estimate
// NaN.
func checkPID(proportional, integral, derivative, minRate float64) error {
	for _, g := range []struct {
		name string
		v    float64
	}{{"proportional", proportional}, {"integral", integral}, {"derivative", derivative}} {
		if !(g.v >= 0) || math.IsInf(g.v, 1) {
			return fmt.Errorf("%w: PID %s term %v must be a finite number >= 0", ErrInvalidOption, g.name, g.v)
		}
	}
	if !(minRate > 0) || math.IsInf(minRate, 1) {
		return fmt.Errorf("%w: PID minimum rate %v must be a finite number > 0", ErrInvalidOption, minRate)
	}
	return nil
}

// Compute takes what a completed batch measured for the stream and returns
// a new rate estimate in records per second. t is when the batch finished
// processing (Spark passes the batch's processing end time), elements the
// stream's records in the batch, processingDelay how long the batch ran and
// schedulingDelay how long it waited to start.
//
// It ignores the batch (ok is false, nothing changes) unless t is after the
// time of the last batch it used, elements > 0 and processingDelay > 0.
// Otherwise, with delays and times in seconds and rates in records per
// second:
//
//	processingRate  = elements / processingDelay
//	error           = latestRate - processingRate
//	historicalError = schedulingDelay * processingRate / batchInterval
//	dError          = (error - latestError) / (t - latestTime)
//	rate            = max(latestRate - kp*error - ki*historicalError - kd*dError, minRate)
//
// where latestRate, latestError and latestTime come from the last batch
// used. The first batch used only seeds the estimator (latestRate =
// processingRate, latestError = 0, latestTime = t) and returns ok ==
// false; from the second on, Compute returns the rate and remembers it as
// latestRate, with error as latestError. historicalError is the rate at
// which the backlog that caused the scheduling delay would drain within
// one batch interval, the integral term.
func (e *pidRateEstimator) Compute(t time.Time, elements int64, processingDelay, schedulingDelay time.Duration) (rate float64, ok bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if !t.After(e.latestTime) || elements <= 0 || processingDelay <= 0 {
		return 0, false
	}
	processingRate := float64(elements) / processingDelay.Seconds()
	if !e.seeded {
		e.seeded = true
		e.latestTime = t
		e.latestRate = processingRate
		e.latestError = 0
		return 0, false
	}
	sinceUpdate := t.Sub(e.latestTime).Seconds()
	err := e.latestRate - processingRate
	historicalError := schedulingDelay.Seconds() * processingRate / e.interval
	dError := (err - e.latestError) / sinceUpdate
	rate = max(e.latestRate-e.kp*err-e.ki*historicalError-e.kd*dError, e.minRate)
	e.latestTime = t
	e.latestRate = rate
	e.latestError = err
	return rate, true
}

// RateControlled is implemented by an Input whose ingestion rate
// backpressure may set, such as the Kafka direct stream. With
// WithBackpressure, SetRateLimit receives the initial rate (if any) when
// the context starts, before the first batch is generated, and then every
// new estimate, in records per second for the whole stream (always > 0).
// The input should hold each following batch to about recordsPerSecond *
// batch interval records, below any cap of its own; the Kafka direct
// stream splits the rate across partitions in proportion to their lag and
// caps each with its maxRatePerPartition.
//
// SetRateLimit is called from the batch runner when a batch completes, so
// it may run while Generate runs, and must be quick.
type RateControlled interface {
	SetRateLimit(recordsPerSecond float64)
}

// WithBackpressure turns on backpressure (Spark's
// spark.streaming.backpressure.enabled, with the "pid" rate estimator):
// the engine adapts how fast each input stream ingests to how fast the job
// processes, so that input faster than processing does not make the
// scheduling delay, and the data waiting for a batch, grow without bound.
//
// Every receiver stream, and every Input that implements RateControlled,
// gets a pidRateEstimator (tuned with WithPIDRateEstimator). When a batch
// completes, each estimator is fed the batch's processing end time, the
// stream's records in the batch (BatchInfo.Inputs), the batch's processing
// delay and its scheduling delay (see pidRateEstimator.Compute). A new
// estimate becomes the receiver's rate limit, capped by its configured
// maximum (MaxRate or WithReceiverMaxRate) when it has one, and replaces
// any rate set with ReceiverHost.SetMaxRate; a RateControlled input gets
// it through SetRateLimit. The estimate is applied on the batch runner when
// the batch completes (Spark applies it asynchronously).
//
// The first completed batch with records only seeds an estimator, so the
// first estimate comes with the second one. Batches in which a stream has
// no records, or that took no time, leave its rate unchanged. An estimate
// is never below the minimum rate (DefaultPIDMinRate records per second),
// so a stream always gets some data to measure.
//
// initialRate, if positive, is the rate until the first estimate
// (spark.streaming.backpressure.initialRate): receivers start limited to
// it (or to their maximum rate if lower), and RateControlled inputs get
// it with SetRateLimit when the context starts. Zero means none:
// receivers start at their maximum rate, unlimited if they have none, and
// the backlog of those first batches shows up as scheduling delay that
// the estimator then drains. initialRate must not be negative.
//
// Streams without rate control, such as QueueStream, are not affected.
// Independently of backpressure, the receiver queue (WithReceiverQueue)
// bounds how much a receiver holds.
func WithBackpressure(initialRate float64) Option {
	return optionFunc(func(c *config) error {
		if !(initialRate >= 0) || math.IsInf(initialRate, 1) {
			return fmt.Errorf("%w: backpressure initial rate %v must be a finite number >= 0", ErrInvalidOption, initialRate)
		}
		b := c.backpressureConfig()
		b.initialRate = initialRate
		if !b.enabled {
			b.enabled = true
			c.listeners = append(c.listeners, b)
		}
		return nil
	})
}

// WithPIDRateEstimator tunes the rate estimator of backpressure (Spark's
// spark.streaming.backpressure.pid.proportional, .integral, .derived and
// .minRate). As in Spark, the gains must be zero or more and minRate
// positive; the defaults are DefaultPIDProportional, DefaultPIDIntegral,
// DefaultPIDDerivative and DefaultPIDMinRate. It has no effect without
// WithBackpressure.
func WithPIDRateEstimator(proportional, integral, derivative, minRate float64) Option {
	return optionFunc(func(c *config) error {
		if err := checkPID(proportional, integral, derivative, minRate); err != nil {
			return err
		}
		c.backpressureConfig().gains = pidGains{proportional, integral, derivative, minRate}
		return nil
	})
}

// backpressureConfig returns the context's backpressure controller,
// creating it (disabled, with the default gains) on first use. Each config
// gets its own, so an Option value may be given to several contexts.
func (c *config) backpressureConfig() *backpressure {
	if c.backpressure == nil {
		c.backpressure = &backpressure{gains: pidGains{DefaultPIDProportional, DefaultPIDIntegral, DefaultPIDDerivative, DefaultPIDMinRate}}
	}
	return c.backpressure
}

// initialReceiverRate returns the rate limit a new receiver starts with,
// given its configured maximum (0 or less: unlimited): the backpressure
// initial rate capped by the maximum, or the maximum.
func (c *config) initialReceiverRate(maxRate float64) float64 {
	b := c.backpressure
	if b == nil || !b.enabled || b.initialRate <= 0 {
		return maxRate
	}
	if maxRate > 0 {
		return min(b.initialRate, maxRate)
	}
	return b.initialRate
}

type pidGains struct{ kp, ki, kd, minRate float64 }

// backpressure is the rate control of one context: a listener holding one
// estimator per rate-controlled input stream (Spark's RateControllers).
// It finds the context's input streams when the context starts.
type backpressure struct {
	// Set by the options, before the context exists.
	enabled     bool
	initialRate float64
	gains       pidGains

	mu      sync.Mutex
	c       *Context
	ready   bool // targets found
	targets []*rateTarget
}

// rateTarget is one rate-controlled input stream.
type rateTarget struct {
	id    int    // input stream id, as in InputInfo.StreamID
	name  string // the stream's name
	est   *pidRateEstimator
	apply func(recordsPerSecond float64)
}

// rateControllable is implemented by the input streams backpressure can
// slow down: receiver streams, and direct inputs whose Input implements
// RateControlled.
type rateControllable interface {
	// rateControl returns the function that applies a rate to the stream,
	// or nil if it has no rate control, and whether the backpressure
	// initial rate must be applied through it at start (receivers start
	// with it already).
	rateControl() (apply func(recordsPerSecond float64), applyInitial bool)
}

func (rs *receiverStream[T]) rateControl() (func(float64), bool) {
	return func(rate float64) {
		if rate <= 0 {
			return
		}
		if rs.maxRate > 0 {
			rate = min(rate, rs.maxRate)
		}
		rs.limiter.setRate(rate)
	}, false
}

func (d *directInput[T]) rateControl() (func(float64), bool) {
	rc, ok := d.in.(RateControlled)
	if !ok {
		return nil, false
	}
	c := d.s.n.c
	return func(rate float64) {
		if err := safely(func() error { rc.SetRateLimit(rate); return nil }); err != nil {
			c.log.Error("dstream: input's SetRateLimit failed", "stream", d.s.n.name, "error", err)
		}
	}, true
}

// bind attaches the controller to its context. Binding is idempotent; the
// input streams are looked up later, when the context starts.
func (b *backpressure) bind(c *Context) {
	if b == nil {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.c == nil {
		b.c = c
	}
}

// OnStreamingStarted finds the context's rate-controlled input streams,
// gives each an estimator, and applies the initial rate to direct inputs,
// before the first batch.
func (b *backpressure) OnStreamingStarted(time.Time) { b.prepare() }

// OnBatchCompleted feeds the batch to the estimator of every
// rate-controlled stream that took part in it, and applies new estimates.
func (b *backpressure) OnBatchCompleted(info BatchInfo) {
	targets := b.prepare()
	for _, tg := range targets {
		for _, in := range info.Inputs {
			if in.StreamID != tg.id {
				continue
			}
			if rate, ok := tg.est.Compute(info.ProcessingEndTime, in.NumRecords, info.ProcessingDelay(), info.SchedulingDelay()); ok {
				b.c.log.Debug("dstream: backpressure rate", "stream", tg.name, "rate", rate,
					"batch_ms", info.BatchTime.UnixMilli(), "records", in.NumRecords,
					"processing_delay", info.ProcessingDelay(), "scheduling_delay", info.SchedulingDelay())
				tg.apply(rate)
			}
			break
		}
	}
}

// prepare finds the targets once the context is known, and returns them.
func (b *backpressure) prepare() []*rateTarget {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.ready {
		return b.targets
	}
	if b.c == nil {
		return nil
	}
	b.ready = true
	c := b.c
	c.mu.Lock()
	inputs := slices.Clone(c.inputs)
	c.mu.Unlock()
	var initial []func(float64)
	for id, n := range inputs {
		rc, ok := n.input.(rateControllable)
		if !ok {
			continue
		}
		apply, applyInitial := rc.rateControl()
		if apply == nil {
			continue
		}
		g := b.gains
		est, err := newPIDRateEstimator(c.interval, g.kp, g.ki, g.kd, g.minRate)
		if err != nil { // validated by the options; cannot happen
			c.log.Error("dstream: backpressure disabled for stream", "stream", n.name, "error", err)
			continue
		}
		b.targets = append(b.targets, &rateTarget{id: id, name: n.name, est: est, apply: apply})
		if applyInitial && b.initialRate > 0 {
			initial = append(initial, apply)
		}
	}
	for _, apply := range initial {
		apply(b.initialRate)
	}
	return b.targets
}
