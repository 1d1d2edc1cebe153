package ui

import (
	"cmp"
	"encoding/json"
	"maps"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/microbatch-go/microbatch/dstream"
)

// The JSON API, modeled on Spark's REST API for streaming
// (/api/v1/applications/{app}/streaming/...), for the one job a Server
// watches. Every endpoint answers GET with a JSON document; errors are
// {"error": "..."} with status 400 or 404. Times are milliseconds since
// the Unix epoch (integers), durations milliseconds (numbers with a
// fraction), rates records per second; a value not known yet is null.
//
//	GET /api/v1/streaming/statistics                    Statistics
//	GET /api/v1/streaming/batches[?status=LIST]         []Batch, newest first; LIST is a comma-separated
//	                                                    subset of queued, processing, completed, failed;
//	                                                    without the inputs' metadata and lag
//	GET /api/v1/streaming/batches/{batchTime}           Batch (batchTime in ms, the batch's id), with its
//	                                                    inputs' metadata and lag: the batch's detail
//	GET /api/v1/streaming/batches/{batchTime}/operations []OutputOperation
//	GET /api/v1/streaming/receivers                     []Receiver, by stream id
//	GET /api/v1/streaming/receivers/{streamId}          Receiver
const apiPrefix = "/api/v1/streaming"

// Statistics is the job's summary (Spark's StreamingStatistics). The
// averages are over the retained completed batches, null when there are
// none.
type Statistics struct {
	// Name is the job's name (WithName), if it was given one.
	Name string `json:"name,omitempty"`
	// State is "waiting" (the context has not started), "active" or
	// "stopped".
	State string `json:"state"`
	// StopError is the error that stopped the context, if any.
	StopError string `json:"stopError,omitempty"`
	// Degraded lists the dependencies that are away now (an unreachable
	// broker, a missing topic or directory), by component; the job runs,
	// but its batches may be empty because of them.
	Degraded []Degraded `json:"degraded,omitempty"`
	// Partitions lists, per input whose partitions are shared with copies
	// of the job (the Kafka direct stream in a consumer group), what it
	// owns and how often that changed.
	Partitions []Partitions `json:"partitions,omitempty"`
	// StartTime is when the context started; null before.
	StartTime *int64 `json:"startTime"`
	// BatchDurationMs is the batch interval.
	BatchDurationMs float64 `json:"batchDurationMs"`
	// NumReceivers counts the receivers seen; NumActiveReceivers and
	// NumInactiveReceivers split them by status.
	NumReceivers         int `json:"numReceivers"`
	NumActiveReceivers   int `json:"numActiveReceivers"`
	NumInactiveReceivers int `json:"numInactiveReceivers"`
	// NumTotalCompletedBatches counts every finished batch since the
	// start, failed ones included; NumFailedBatches the failed ones;
	// NumRetainedCompletedBatches those the Server still holds.
	NumTotalCompletedBatches    int64 `json:"numTotalCompletedBatches"`
	NumFailedBatches            int64 `json:"numFailedBatches"`
	NumRetainedCompletedBatches int   `json:"numRetainedCompletedBatches"`
	// NumActiveBatches counts the batches queued or processing.
	NumActiveBatches int `json:"numActiveBatches"`
	// NumProcessedRecords counts the records of every finished batch.
	NumProcessedRecords int64 `json:"numProcessedRecords"`
	// AvgInputRate is the mean input rate, records per second.
	AvgInputRate *float64 `json:"avgInputRate"`
	// AvgSchedulingDelayMs, AvgProcessingTimeMs and AvgTotalDelayMs are
	// the mean delays.
	AvgSchedulingDelayMs *float64 `json:"avgSchedulingDelayMs"`
	AvgProcessingTimeMs  *float64 `json:"avgProcessingTimeMs"`
	AvgTotalDelayMs      *float64 `json:"avgTotalDelayMs"`
}

// Partitions are an input's partitions.
type Partitions struct {
	// Input is the input stream's name.
	Input string `json:"input"`
	// Owned are the partitions it owns now, e.g. "words-3".
	Owned []string `json:"owned"`
	// Assigned, Revoked and Lost count the changes: partitions assigned
	// by a rebalance, taken away in order, or lost when the group fenced
	// this copy.
	Assigned int64 `json:"assigned"`
	Revoked  int64 `json:"revoked"`
	Lost     int64 `json:"lost"`
	// LastRestoreMs is how long the last assignment waited for the
	// input's stores (files rolled forward, tables restored).
	LastRestoreMs float64 `json:"lastRestoreMs"`
	// LastChange is when they last changed (ms since the epoch).
	LastChange int64 `json:"lastChange"`
}

// Degraded is a dependency of the job that is away.
type Degraded struct {
	// Component names it, e.g. "kafka brokers 127.0.0.1:9092".
	Component string `json:"component"`
	// Error says what is wrong.
	Error string `json:"error"`
	// Since is when it went away (ms since the epoch).
	Since int64 `json:"since"`
}

// Batch is one batch (Spark's BatchInfo of the REST API).
type Batch struct {
	// BatchTime is the batch's time, which identifies it.
	BatchTime int64 `json:"batchTime"`
	// Status is "queued", "processing", "completed" or "failed".
	Status string `json:"status"`
	// NumRecords counts the records of all inputs; null while an input
	// read lazily (the Kafka direct stream) has not counted them yet.
	NumRecords *int64 `json:"numRecords"`
	// InputRate is NumRecords / the batch interval, records per second.
	InputRate *float64 `json:"inputRate"`
	// Inputs has one entry per input stream that produced data. In the
	// list of batches they leave out their Metadata, MetadataOmitted and
	// Lag, which only the batch's own endpoint (Server.Batch) has.
	Inputs []Input `json:"inputs"`
	// SubmissionTime is when the batch was generated and queued;
	// ProcessingStartTime and ProcessingEndTime when processing started
	// and ended, null before.
	SubmissionTime      int64  `json:"submissionTime"`
	ProcessingStartTime *int64 `json:"processingStartTime"`
	ProcessingEndTime   *int64 `json:"processingEndTime"`
	// SchedulingDelayMs is ProcessingStartTime - SubmissionTime, null
	// before processing starts; ProcessingTimeMs is ProcessingEndTime -
	// ProcessingStartTime and TotalDelayMs their sum, null before the
	// batch completes (dstream.BatchInfo's delays, to the nanosecond).
	SchedulingDelayMs *float64 `json:"schedulingDelayMs"`
	ProcessingTimeMs  *float64 `json:"processingTimeMs"`
	TotalDelayMs      *float64 `json:"totalDelayMs"`
	// NumOutputOps counts the output operations that ran or run (a
	// failure stops the batch's later ones); NumSucceededOutputOps,
	// NumFailedOutputOps and NumActiveOutputOps split them by outcome.
	NumOutputOps          int `json:"numOutputOps"`
	NumSucceededOutputOps int `json:"numSucceededOutputOps"`
	NumFailedOutputOps    int `json:"numFailedOutputOps"`
	NumActiveOutputOps    int `json:"numActiveOutputOps"`
	// Error is the error that failed the batch.
	Error string `json:"error,omitempty"`
	// OutputOperations are the batch's output operations in definition
	// order.
	OutputOperations []OutputOperation `json:"outputOperations"`
}

// Input is what one input stream contributed to a batch.
type Input struct {
	StreamID   int    `json:"streamId"`   // the input stream's id
	Name       string `json:"name"`       // the input stream's name
	NumRecords *int64 `json:"numRecords"` // its records; null while not counted
	// Metadata is what the input said of the batch
	// (dstream.InputInfo.Metadata), by key, each value as its JSON: the
	// Kafka direct stream's "offsets" are its offset ranges, one per
	// partition, [{"Topic", "Partition", "From", "Until"}] (From
	// inclusive, Until exclusive); the file stream's "files" are the
	// paths it read. It is there from the batch's submission on, while
	// the batch is queued and runs. An entry that cannot be encoded as
	// JSON is a string saying why ("not shown: ...").
	//
	// It is bounded, so that retained batches stay small: a list keeps
	// its first MaxMetadataItems (1000) items, and of those as many as
	// fit in MaxMetadataBytes (128 KiB) of JSON; any other entry longer
	// than that is replaced by a string saying so. Omitted when the input
	// said nothing, and in the list of batches.
	Metadata map[string]json.RawMessage `json:"metadata,omitempty"`
	// MetadataOmitted counts, by key of Metadata, the list items left out
	// by the bound; omitted when none were.
	MetadataOmitted map[string]int64 `json:"metadataOmitted,omitempty"`
	// Lag is the consumer lag per partition of the input's source when
	// the batch was cut (dstream.InputInfo.Lag), one entry per partition;
	// omitted when the input does not know it, and in the list of
	// batches.
	Lag []PartitionLag `json:"lag,omitempty"`
}

// PartitionLag is the consumer lag of one partition of an input's source.
type PartitionLag struct {
	// Partition names it, e.g. "words-3" (the topic and partition).
	Partition string `json:"partition"`
	// Records are the records past the batch's end when it was cut.
	Records int64 `json:"records"`
}

// Written is what an output operation's output wrote in a batch, as the
// output counts it (dstream.OutputStats).
type Written struct {
	Records int64 `json:"records"` // the stream's records written (not rejected)
	Rows    int64 `json:"rows"`    // rows the store holds from them, once visible
	Bytes   int64 `json:"bytes"`   // bytes written to the store
	Files   int64 `json:"files"`   // files made visible (committed)
}

// OutputOperation is one output operation of a batch (Spark's
// OutputOperationInfo).
type OutputOperation struct {
	ID         int      `json:"id"`         // in definition order from 0
	Name       string   `json:"name"`       // e.g. "print", "forEachBatch"
	Stream     string   `json:"stream"`     // the stream it outputs
	Status     string   `json:"status"`     // "running", "succeeded" or "failed"
	StartTime  int64    `json:"startTime"`  // when it started
	EndTime    *int64   `json:"endTime"`    // when it ended; null while it runs
	DurationMs *float64 `json:"durationMs"` // EndTime - StartTime; null while it runs
	Error      string   `json:"error,omitempty"`
	// Rejected is how many records the output rejected to the job's dead
	// letters in this batch (dstream.Partition.Reject).
	Rejected int64 `json:"rejected"`
	// RejectedBy splits Rejected by reason, the word its error names
	// (dstream.RejectReasonOf), "other" for records rejected without
	// one; omitted when nothing was rejected.
	RejectedBy map[string]int64 `json:"rejectedBy,omitempty"`
	// Wrote is what the operation's output wrote in this batch, as it
	// counts it (dstream.StatsReporter): zeros while it runs and for an
	// output that does not count, such as forEachBatch.
	Wrote Written `json:"wrote"`
}

// Receiver is one receiver (Spark's ReceiverInfo of the REST API).
type Receiver struct {
	StreamID int    `json:"streamId"` // the receiver's input stream id
	Name     string `json:"name"`     // the receiver's name
	// Status is "active" or "stopped" (for good, or for a restart).
	Status string `json:"status"`
	// NumErrors counts the errors the receiver reported.
	NumErrors int64 `json:"numErrors"`
	// LastErrorMessage, LastError and LastErrorTime describe the last
	// error reported; empty and null when there was none.
	LastErrorMessage string `json:"lastErrorMessage,omitempty"`
	LastError        string `json:"lastError,omitempty"`
	LastErrorTime    *int64 `json:"lastErrorTime"`
	// AvgEventRate is the mean rate of the receiver's records over the
	// retained completed batches, records per second; null when none.
	AvgEventRate *float64 `json:"avgEventRate"`
}

func (s *Server) registerAPI(mux *http.ServeMux) {
	mux.HandleFunc("GET "+apiPrefix+"/statistics", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, s.Statistics())
	})
	mux.HandleFunc("GET "+apiPrefix+"/batches", func(w http.ResponseWriter, r *http.Request) {
		want := map[string]bool{}
		if q := r.URL.Query().Get("status"); q != "" {
			for _, st := range strings.Split(q, ",") {
				st = strings.ToLower(strings.TrimSpace(st))
				switch st {
				case statusQueued, statusProcessing, statusCompleted, statusFailed:
					want[st] = true
				default:
					writeError(w, http.StatusBadRequest, "status "+strconv.Quote(st)+": want queued, processing, completed or failed")
					return
				}
			}
		}
		all := s.Batches()
		out := all[:0]
		for _, b := range all {
			if len(want) == 0 || want[b.Status] {
				out = append(out, b)
			}
		}
		writeJSON(w, http.StatusOK, out)
	})
	batch := func(w http.ResponseWriter, r *http.Request) (Batch, bool) {
		ms, err := strconv.ParseInt(r.PathValue("batchTime"), 10, 64)
		if err != nil {
			writeError(w, http.StatusBadRequest, "batch time "+strconv.Quote(r.PathValue("batchTime"))+": want milliseconds since the epoch")
			return Batch{}, false
		}
		b, ok := s.Batch(time.UnixMilli(ms))
		if !ok {
			writeError(w, http.StatusNotFound, "no batch at "+strconv.FormatInt(ms, 10)+" (not run, or no longer retained)")
		}
		return b, ok
	}
	mux.HandleFunc("GET "+apiPrefix+"/batches/{batchTime}", func(w http.ResponseWriter, r *http.Request) {
		if b, ok := batch(w, r); ok {
			writeJSON(w, http.StatusOK, b)
		}
	})
	mux.HandleFunc("GET "+apiPrefix+"/batches/{batchTime}/operations", func(w http.ResponseWriter, r *http.Request) {
		if b, ok := batch(w, r); ok {
			writeJSON(w, http.StatusOK, b.OutputOperations)
		}
	})
	mux.HandleFunc("GET "+apiPrefix+"/receivers", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, s.Receivers())
	})
	mux.HandleFunc("GET "+apiPrefix+"/receivers/{streamId}", func(w http.ResponseWriter, r *http.Request) {
		id, err := strconv.Atoi(r.PathValue("streamId"))
		if err != nil {
			writeError(w, http.StatusBadRequest, "stream id "+strconv.Quote(r.PathValue("streamId"))+": want an integer")
			return
		}
		for _, rc := range s.Receivers() {
			if rc.StreamID == id {
				writeJSON(w, http.StatusOK, rc)
				return
			}
		}
		writeError(w, http.StatusNotFound, "no receiver with stream id "+strconv.Itoa(id))
	})
	mux.HandleFunc(apiPrefix+"/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, "no such endpoint: "+r.Method+" "+r.URL.Path)
	})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v) // the client went away; nothing to do
}

func writeError(w http.ResponseWriter, status int, msg string) {
	writeJSON(w, status, map[string]string{"error": msg})
}

// Statistics returns the job's summary, as served at
// /api/v1/streaming/statistics.
func (s *Server) Statistics() Statistics {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := Statistics{
		Name:                        s.name,
		State:                       s.state,
		StopError:                   s.stopErr,
		BatchDurationMs:             ms(s.interval),
		NumTotalCompletedBatches:    s.totals.completed,
		NumFailedBatches:            s.totals.failed,
		NumRetainedCompletedBatches: s.completed.n,
		NumActiveBatches:            len(s.active),
		NumProcessedRecords:         s.totals.records,
	}
	if !s.startTime.IsZero() {
		st.StartTime = ptr(s.startTime.UnixMilli())
	}
	if s.state == stateActive {
		for _, d := range s.degraded {
			st.Degraded = append(st.Degraded, Degraded{Component: d.Component, Error: d.Err.Error(), Since: d.Since.UnixMilli()})
		}
		slices.SortFunc(st.Degraded, func(a, b Degraded) int { return strings.Compare(a.Component, b.Component) })
	}
	for _, in := range slices.Sorted(maps.Keys(s.partitions)) {
		p := s.partitions[in]
		st.Partitions = append(st.Partitions, Partitions{Input: in, Owned: slices.Clone(p.owned),
			Assigned: p.events["assigned"], Revoked: p.events["revoked"], Lost: p.events["lost"],
			LastRestoreMs: ms(p.lastRestore), LastChange: p.lastChange.UnixMilli()})
	}
	for _, r := range s.receivers {
		st.NumReceivers++
		if r.info.Active {
			st.NumActiveReceivers++
		} else {
			st.NumInactiveReceivers++
		}
	}
	if n := s.completed.n; n > 0 {
		var rate, sched, proc, total float64
		for _, b := range s.completed.all() {
			rate += s.inputRate(max(records(b), 0))
			sched += ms(b.SchedulingDelay())
			proc += ms(b.ProcessingDelay())
			total += ms(b.TotalDelay())
		}
		f := float64(n)
		st.AvgInputRate = ptr(rate / f)
		st.AvgSchedulingDelayMs = ptr(sched / f)
		st.AvgProcessingTimeMs = ptr(proc / f)
		st.AvgTotalDelayMs = ptr(total / f)
	}
	return st
}

// Batches returns the active and retained completed batches, newest
// first, as served at /api/v1/streaming/batches: without the inputs'
// metadata and lag, which Batch has.
func (s *Server) Batches() []Batch {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Batch, 0, len(s.active)+s.completed.n)
	for _, a := range s.active {
		out = append(out, s.activeBatch(a, false))
	}
	slices.SortFunc(out, func(a, b Batch) int { return cmp.Compare(b.BatchTime, a.BatchTime) })
	r := &s.completed
	for i := r.n - 1; i >= 0; i-- {
		out = append(out, s.completedBatch(r.buf[(r.start+i)%len(r.buf)], false))
	}
	return out
}

// Batch returns the active or retained completed batch at t with its
// detail (the inputs' metadata and lag), as served at
// /api/v1/streaming/batches/{batchTime}.
func (s *Server) Batch(t time.Time) (Batch, bool) {
	key := t.UnixMilli()
	s.mu.Lock()
	defer s.mu.Unlock()
	if a, ok := s.active[key]; ok {
		return s.activeBatch(a, true), true
	}
	if b, ok := s.completed.find(key); ok {
		return s.completedBatch(b, true), true
	}
	return Batch{}, false
}

// Receivers returns the receivers seen, by stream id, as served at
// /api/v1/streaming/receivers.
func (s *Server) Receivers() []Receiver {
	s.mu.Lock()
	defer s.mu.Unlock()
	done := s.completed.all()
	var out []Receiver
	for _, rs := range s.sortedReceiversLocked() {
		r := Receiver{
			StreamID:         rs.info.StreamID,
			Name:             rs.info.Name,
			Status:           "stopped",
			NumErrors:        rs.errors,
			LastErrorMessage: rs.info.LastErrorMessage,
			LastError:        rs.lastErr,
		}
		if rs.info.Active {
			r.Status = "active"
		}
		if !rs.info.LastErrorTime.IsZero() {
			r.LastErrorTime = ptr(rs.info.LastErrorTime.UnixMilli())
		}
		if len(done) > 0 {
			var n int64
			for _, b := range done {
				for _, in := range b.Inputs {
					if in.StreamID == rs.info.StreamID && in.NumRecords > 0 {
						n += in.NumRecords
					}
				}
			}
			r.AvgEventRate = ptr(s.inputRate(n) / float64(len(done)))
		}
		out = append(out, r)
	}
	if out == nil {
		out = []Receiver{}
	}
	return out
}

// activeBatch converts a batch that has not completed, with the inputs'
// metadata and lag when detail is set. s.mu must be held.
func (s *Server) activeBatch(a *activeBatch, detail bool) Batch {
	b := a.info
	out := s.baseBatch(b, a.meta, detail)
	out.Status = statusQueued
	if !b.ProcessingStartTime.IsZero() {
		out.Status = statusProcessing
		out.ProcessingStartTime = ptr(b.ProcessingStartTime.UnixMilli())
		out.SchedulingDelayMs = ptr(ms(b.SchedulingDelay()))
	}
	out.OutputOperations = outputOps(a.ops)
	countOps(&out)
	return out
}

// completedBatch converts a completed batch, with the inputs' metadata
// and lag when detail is set. s.mu must be held.
func (s *Server) completedBatch(r retained, detail bool) Batch {
	b := r.info
	out := s.baseBatch(b, r.meta, detail)
	out.Status = statusCompleted
	if b.Err != nil {
		out.Status = statusFailed
		out.Error = b.Err.Error()
	}
	out.ProcessingStartTime = ptr(b.ProcessingStartTime.UnixMilli())
	out.ProcessingEndTime = ptr(b.ProcessingEndTime.UnixMilli())
	out.SchedulingDelayMs = ptr(ms(b.SchedulingDelay()))
	out.ProcessingTimeMs = ptr(ms(b.ProcessingDelay()))
	out.TotalDelayMs = ptr(ms(b.TotalDelay()))
	out.OutputOperations = outputOps(b.OutputOperations)
	countOps(&out)
	return out
}

// baseBatch converts what active and completed batches share; meta is
// the inputs' metadata, by input index (metadataOf).
func (s *Server) baseBatch(b dstream.BatchInfo, meta []inputMeta, detail bool) Batch {
	out := Batch{
		BatchTime:      b.BatchTime.UnixMilli(),
		SubmissionTime: b.SubmissionTime.UnixMilli(),
		Inputs:         make([]Input, 0, len(b.Inputs)),
	}
	for i, in := range b.Inputs {
		x := Input{StreamID: in.StreamID, Name: in.Name}
		if in.NumRecords >= 0 {
			x.NumRecords = ptr(in.NumRecords)
		}
		if detail {
			if i < len(meta) && len(meta[i].entries) > 0 {
				x.Metadata = maps.Clone(meta[i].entries) // the values are never changed
				x.MetadataOmitted = maps.Clone(meta[i].omitted)
			}
			for _, l := range in.Lag {
				x.Lag = append(x.Lag, PartitionLag{Partition: l.Partition, Records: l.Records})
			}
		}
		out.Inputs = append(out.Inputs, x)
	}
	if n := records(b); n >= 0 {
		out.NumRecords = ptr(n)
		out.InputRate = ptr(s.inputRate(n))
	}
	return out
}

func outputOps(ops []dstream.OutputOperationInfo) []OutputOperation {
	out := make([]OutputOperation, 0, len(ops))
	for _, o := range ops {
		x := OutputOperation{ID: o.ID, Name: o.Name, Stream: o.Stream, Status: "running", StartTime: o.StartTime.UnixMilli(), Rejected: o.Rejected,
			Wrote: Written{Records: o.Wrote.Records, Rows: o.Wrote.Rows, Bytes: o.Wrote.Bytes, Files: o.Wrote.Files}}
		var byReason int64
		for r, n := range o.RejectedBy {
			if x.RejectedBy == nil {
				x.RejectedBy = map[string]int64{}
			}
			x.RejectedBy[r] += n
			byReason += n
		}
		if o.Rejected > byReason { // an event made without reasons, as the metrics count it
			if x.RejectedBy == nil {
				x.RejectedBy = map[string]int64{}
			}
			x.RejectedBy["other"] += o.Rejected - byReason
		}
		if !o.EndTime.IsZero() {
			x.Status = "succeeded"
			x.EndTime = ptr(o.EndTime.UnixMilli())
			x.DurationMs = ptr(ms(o.Duration()))
		}
		if o.Err != nil {
			x.Status = "failed"
			x.Error = o.Err.Error()
		}
		out = append(out, x)
	}
	return out
}

func countOps(b *Batch) {
	b.NumOutputOps = len(b.OutputOperations)
	for _, o := range b.OutputOperations {
		switch o.Status {
		case "running":
			b.NumActiveOutputOps++
		case "succeeded":
			b.NumSucceededOutputOps++
		case "failed":
			b.NumFailedOutputOps++
		}
	}
}

// inputRate is records per second of a batch with n records.
func (s *Server) inputRate(n int64) float64 { return float64(n) / s.interval.Seconds() }

// ms returns d in milliseconds, with its nanoseconds as the fraction.
func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

func ptr[T any](v T) *T { return &v }
