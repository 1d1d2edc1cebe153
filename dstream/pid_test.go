package dstream

import (
	"errors"
	"math"
	"testing"
	"time"
)

// pidCall is one Compute call and what it must return.
type pidCall struct {
	at         time.Duration // batch (processing end) time since the epoch
	n          int64         // records
	proc       time.Duration // processing delay
	sched      time.Duration // scheduling delay
	want       float64       // the estimate, when ok
	wantOK     bool
	annotation string
}

// Locks down Spark's PID formula with hand-computed values. Unless a case
// says otherwise: batch interval 1 s, kp 1, ki 0.2, kd 0, minRate 100.
// With t, delays in seconds and rates in records/s:
//
//	procRate = n/proc; err = latest - procRate; hist = sched*procRate/interval
//	dErr = (err - latestErr)/(t - latestT)
//	new = max(latest - kp*err - ki*hist - kd*dErr, minRate)
//
// and the first usable call only seeds latest = procRate, latestErr = 0.
func TestPIDRateEstimatorCompute(t *testing.T) {
	s := time.Second
	ms := time.Millisecond
	type gains struct{ kp, ki, kd, min float64 }
	def := gains{DefaultPIDProportional, DefaultPIDIntegral, DefaultPIDDerivative, DefaultPIDMinRate}
	cases := []struct {
		name     string
		interval time.Duration
		g        gains
		calls    []pidCall
	}{
		{"first call seeds and returns none", s, def, []pidCall{
			{1 * s, 1000, 500 * ms, 0, 0, false, "seed: latest = 2000/s"},
			{2 * s, 1000, 500 * ms, 0, 2000, true, "err 0, hist 0 -> 2000"},
		}},
		{"steady state keeps the rate", s, def, []pidCall{
			{1 * s, 1000, s, 0, 0, false, "seed 1000/s"},
			{2 * s, 1000, s, 0, 1000, true, "err 0"},
			{3 * s, 1000, s, 0, 1000, true, "err 0"},
		}},
		{"slower processing: proportional term", s, def, []pidCall{
			{1 * s, 1000, s, 0, 0, false, "seed 1000/s"},
			{2 * s, 1000, 2 * s, 0, 500, true, "procRate 500, err 500: 1000-500"},
		}},
		{"scheduling delay growth: integral term", s, def, []pidCall{
			{1 * s, 1000, s, 0, 0, false, "seed 1000/s"},
			{2 * s, 1000, 2 * s, s, 400, true, "procRate 500, err 500, hist 1*500: 1000-500-100"},
			{3 * s, 400, s, 2 * s, 240, true, "procRate 400, err 0, hist 2*400: 400-0-160"},
			{4 * s, 240, 500 * ms, 1500 * ms, 336, true, "procRate 480, err -240, hist 1.5*480=720: 240+240-144"},
		}},
		{"historical error divides by the batch interval", 2 * s, def, []pidCall{
			{2 * s, 1000, s, 0, 0, false, "seed 1000/s"},
			{4 * s, 1000, 2 * s, s, 450, true, "procRate 500, err 500, hist 1*500/2=250: 1000-500-50"},
		}},
		{"min rate clamp, and the clamped rate is the next latest", s, def, []pidCall{
			{1 * s, 1000, s, 0, 0, false, "seed 1000/s"},
			{2 * s, 100, s, 10 * s, 100, true, "procRate 100, err 900, hist 1000: 1000-900-200 = -100 -> 100"},
			{3 * s, 300, s, 0, 300, true, "latest 100, procRate 300, err -200: 100+200"},
		}},
		{"custom min rate", s, gains{1, 0.2, 0, 50}, []pidCall{
			{1 * s, 1000, s, 0, 0, false, "seed 1000/s"},
			{2 * s, 100, s, 10 * s, 50, true, "-100 -> 50"},
		}},
		{"skipped calls change nothing", s, def, []pidCall{
			{1 * s, 0, s, 0, 0, false, "no records: skipped, not a seed"},
			{1 * s, 500, 0, 0, 0, false, "no processing time: skipped"},
			{2 * s, 1000, s, 0, 0, false, "seed 1000/s at 2s"},
			{2 * s, 500, s, 0, 0, false, "same time: skipped"},
			{1 * s, 500, s, 0, 0, false, "earlier time: skipped"},
			{3 * s, 0, s, 0, 0, false, "no records: skipped"},
			{3 * s, -5, s, 0, 0, false, "negative records: skipped"},
			{3 * s, 500, 0, 0, 0, false, "zero processing delay: skipped"},
			{3 * s, 500, -s, 0, 0, false, "negative processing delay: skipped"},
			{3 * s, 500, s, 0, 500, true, "latest still 1000: err 500 -> 500"},
		}},
		{"derivative term", s, gains{1, 0.2, 0.5, 100}, []pidCall{
			{1 * s, 1000, s, 0, 0, false, "seed 1000/s, latestErr 0"},
			{3 * s, 1000, 2 * s, 0, 375, true, "procRate 500, err 500, dErr (500-0)/2s = 250: 1000-500-125"},
			{4 * s, 375, 500 * ms, 0, 1187.5, true, "procRate 750, err -375, dErr (-375-500)/1s = -875: 375+375+437.5"},
		}},
		{"integral only", s, gains{0, 0.2, 0, 100}, []pidCall{
			{1 * s, 1000, s, 0, 0, false, "seed 1000/s"},
			{2 * s, 1000, 2 * s, s, 900, true, "kp 0: 1000 - 0.2*500"},
		}},
		{"sub-millisecond delays count", s, def, []pidCall{
			{1 * s, 3, 1500 * time.Microsecond, 0, 0, false, "seed 2000/s"},
			{2 * s, 3, 2 * ms, 0, 1500, true, "procRate 1500, err 500: 2000-500"},
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e, err := newPIDRateEstimator(tc.interval, tc.g.kp, tc.g.ki, tc.g.kd, tc.g.min)
			if err != nil {
				t.Fatalf("newPIDRateEstimator: %v", err)
			}
			for i, c := range tc.calls {
				got, ok := e.Compute(time.UnixMilli(0).Add(c.at), c.n, c.proc, c.sched)
				if ok != c.wantOK || (ok && math.Abs(got-c.want) > 1e-9*math.Max(1, math.Abs(c.want))) {
					t.Errorf("call %d (t=%v n=%d proc=%v sched=%v; %s) = %v, %t; want %v, %t",
						i, c.at, c.n, c.proc, c.sched, c.annotation, got, ok, c.want, c.wantOK)
				}
				if !ok && got != 0 {
					t.Errorf("call %d: rate %v with ok == false, want 0", i, got)
				}
			}
		})
	}
}

// Locks down: newPIDRateEstimator validates like Spark (interval > 0, gains
// >= 0, minRate > 0), and also rejects NaN and infinities; errors wrap
// ErrInvalidOption.
func TestPIDRateEstimatorValidation(t *testing.T) {
	nan, inf := math.NaN(), math.Inf(1)
	cases := []struct {
		name               string
		interval           time.Duration
		kp, ki, kd, minRat float64
		ok                 bool
	}{
		{"defaults", time.Second, DefaultPIDProportional, DefaultPIDIntegral, DefaultPIDDerivative, DefaultPIDMinRate, true},
		{"zero gains", time.Millisecond, 0, 0, 0, 1e-9, true},
		{"zero interval", 0, 1, 0.2, 0, 100, false},
		{"negative interval", -time.Second, 1, 0.2, 0, 100, false},
		{"negative proportional", time.Second, -0.1, 0.2, 0, 100, false},
		{"negative integral", time.Second, 1, -0.2, 0, 100, false},
		{"negative derivative", time.Second, 1, 0.2, -1, 100, false},
		{"zero min rate", time.Second, 1, 0.2, 0, 0, false},
		{"negative min rate", time.Second, 1, 0.2, 0, -100, false},
		{"NaN proportional", time.Second, nan, 0.2, 0, 100, false},
		{"infinite integral", time.Second, 1, inf, 0, 100, false},
		{"NaN min rate", time.Second, 1, 0.2, 0, nan, false},
		{"infinite min rate", time.Second, 1, 0.2, 0, inf, false},
	}
	for _, c := range cases {
		e, err := newPIDRateEstimator(c.interval, c.kp, c.ki, c.kd, c.minRat)
		if c.ok {
			if err != nil || e == nil {
				t.Errorf("%s: got %v, %v; want an estimator", c.name, e, err)
			}
			continue
		}
		if !errors.Is(err, ErrInvalidOption) || e != nil {
			t.Errorf("%s: got %v, %v; want an error wrapping ErrInvalidOption", c.name, e, err)
		}
	}
}

// Locks down: the backpressure options validate their arguments through
// NewContext.
func TestPIDBackpressureOptionValidation(t *testing.T) {
	cases := []struct {
		name string
		opt  Option
		ok   bool
	}{
		{"backpressure without initial rate", WithBackpressure(0), true},
		{"backpressure with initial rate", WithBackpressure(500), true},
		{"negative initial rate", WithBackpressure(-1), false},
		{"NaN initial rate", WithBackpressure(math.NaN()), false},
		{"infinite initial rate", WithBackpressure(math.Inf(1)), false},
		{"PID defaults", WithPIDRateEstimator(1, 0.2, 0, 100), true},
		{"PID negative proportional", WithPIDRateEstimator(-1, 0.2, 0, 100), false},
		{"PID zero min rate", WithPIDRateEstimator(1, 0.2, 0, 0), false},
	}
	for _, c := range cases {
		_, err := NewContext(time.Second, c.opt)
		if c.ok && err != nil {
			t.Errorf("%s: NewContext: %v", c.name, err)
		}
		if !c.ok && !errors.Is(err, ErrInvalidOption) {
			t.Errorf("%s: NewContext error %v, want ErrInvalidOption", c.name, err)
		}
	}
}
