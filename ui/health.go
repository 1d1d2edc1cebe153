package ui

import (
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"
)

// Health endpoints, for orchestrators and load balancers:
//
//	GET /healthz  200 while the process serves and its context has not
//	              stopped with an error, else 503
//	GET /readyz   200 when the job is ready: started and running, no
//	              dependency degraded (dstream.Context.ReportHealth: a
//	              broker, topic or directory away), the last finished batch
//	              succeeded, and no batch has waited longer than the
//	              maximum scheduling delay (WithMaxSchedulingDelay); else
//	              503
//
// Both answer a JSON Health with the reasons, and "HEAD" for probes that
// only look at the status.

// Health is the body of /healthz and /readyz.
type Health struct {
	// OK is true with status 200.
	OK bool `json:"ok"`
	// State is the context's: "waiting", "active" or "stopped".
	State string `json:"state"`
	// Reasons say why OK is false, one per cause.
	Reasons []string `json:"reasons,omitempty"`
}

// WithMaxSchedulingDelay sets how long a batch may wait for its turn
// before /readyz says the job is not keeping up: a batch that waited
// longer, or one queued for longer now. Default: 10 batch intervals, at
// least 30 s. It must be positive.
func WithMaxSchedulingDelay(d time.Duration) Option {
	return func(s *Server) error {
		if d <= 0 {
			return fmt.Errorf("ui: maximum scheduling delay %v must be positive", d)
		}
		s.maxDelay = d
		return nil
	}
}

// Live returns the answer of /healthz.
func (s *Server) Live() Health {
	s.mu.Lock()
	defer s.mu.Unlock()
	h := Health{OK: true, State: s.state}
	if s.state == stateStopped && s.stopErr != "" {
		h.OK = false
		h.Reasons = append(h.Reasons, "stopped with an error: "+s.stopErr)
	}
	return h
}

// Ready returns the answer of /readyz at now.
func (s *Server) Ready(now time.Time) Health {
	s.mu.Lock()
	defer s.mu.Unlock()
	h := Health{State: s.state}
	switch s.state {
	case stateWaiting:
		h.Reasons = append(h.Reasons, "not started")
	case stateStopped:
		h.Reasons = append(h.Reasons, "stopped")
		if s.stopErr != "" {
			h.Reasons[0] += " with an error: " + s.stopErr
		}
	}
	var degraded []string
	for _, d := range s.degraded {
		degraded = append(degraded, "degraded: "+d.String())
	}
	slices.Sort(degraded)
	h.Reasons = append(h.Reasons, degraded...)
	if b := s.totals.last; b != nil {
		if b.Err != nil {
			h.Reasons = append(h.Reasons, fmt.Sprintf("the last batch (%s) failed: %v", b.BatchTime.Format(time.RFC3339Nano), b.Err))
		}
		if d := b.SchedulingDelay(); d > s.maxDelay {
			h.Reasons = append(h.Reasons, fmt.Sprintf("the last batch waited %v for its turn, more than %v: the job is not keeping up", d.Round(time.Millisecond), s.maxDelay))
		}
	}
	for _, a := range s.active {
		if a.info.ProcessingStartTime.IsZero() && !a.info.SubmissionTime.IsZero() {
			if d := now.Sub(a.info.SubmissionTime); d > s.maxDelay {
				h.Reasons = append(h.Reasons, fmt.Sprintf("a batch has been queued for %v, more than %v: the job is not keeping up", d.Round(time.Millisecond), s.maxDelay))
				break
			}
		}
	}
	h.OK = len(h.Reasons) == 0
	return h
}

func (s *Server) registerHealth(mux *http.ServeMux) {
	serve := func(w http.ResponseWriter, r *http.Request, h Health) {
		w.Header().Set("Cache-Control", "no-store")
		w.Header().Set("Content-Type", "application/json; charset=utf-8")
		status := http.StatusOK
		if !h.OK {
			status = http.StatusServiceUnavailable
		}
		w.WriteHeader(status)
		if r.Method == http.MethodHead {
			return
		}
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		_ = enc.Encode(h)
	}
	for _, m := range []string{"GET", "HEAD"} {
		mux.HandleFunc(m+" /healthz", func(w http.ResponseWriter, r *http.Request) { serve(w, r, s.Live()) })
		mux.HandleFunc(m+" /readyz", func(w http.ResponseWriter, r *http.Request) { serve(w, r, s.Ready(time.Now())) })
	}
}

// String is "ok", or the reasons joined, for a log line.
func (h Health) String() string {
	if h.OK {
		return "ok"
	}
	return strings.Join(h.Reasons, "; ")
}
