package ui

import (
	"cmp"
	"context"
	"crypto/tls"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/microbatch-go/microbatch/dstream"
	"github.com/prometheus/client_golang/prometheus"
)

// DefaultRetainedBatches is how many completed batches a Server keeps for
// its charts, tables and JSON API (Spark's spark.streaming.ui.retainedBatches).
// Totals (batches, records, failures) count every batch all the same.
const DefaultRetainedBatches = 1000

// MaxMetadataItems and MaxMetadataBytes bound what a Server keeps of a
// batch's input metadata (dstream.InputInfo.Metadata: the Kafka direct
// stream's offset ranges, the file stream's files), which the batch's
// detail (Input.Metadata) shows. Each entry is kept as JSON: a list keeps
// its first MaxMetadataItems items, and of those as many as fit in
// MaxMetadataBytes of JSON (Input.MetadataOmitted counts the items left
// out); another value whose JSON is longer than MaxMetadataBytes is
// replaced by a string saying so. A retained batch thus holds at most
// MaxMetadataBytes per metadata entry of each input, and a Server at most
// that times its retained batches (WithRetainedBatches). The Kafka direct
// stream's ranges, one per partition (some 70 bytes of JSON plus the
// topic's name each), are kept whole for up to 1000 partitions of topics
// with names under 60 characters and offsets under 10^12; a file
// stream's batch keeps the first 1000 of its files (fewer when their
// paths are longer than 128 bytes on average).
const (
	MaxMetadataItems = 1000
	MaxMetadataBytes = 128 << 10
)

// shutdownTimeout bounds how long Serve waits for requests in flight once
// its context is done.
const shutdownTimeout = 5 * time.Second

//go:embed assets
var assets embed.FS

// Server is the status page of one streaming job: a dstream listener that
// keeps the job's batches and receivers, and the HTTP handler that shows
// them (the page, its JSON API and /metrics). Register it with
// dstream.WithListener (or Context.AddListener) before the context starts,
// and serve Handler, or call ListenAndServe, Start or Serve.
//
// A Server is safe for concurrent use: the engine calls its listener
// methods from its goroutines while HTTP requests read. It starts no
// goroutine and opens no port until ListenAndServe, Start or Serve is
// called.
type Server struct {
	interval time.Duration
	retained int
	maxDelay time.Duration // WithMaxSchedulingDelay
	name     string        // WithName
	// tlsConfig, from WithTLS, serves HTTPS.
	tlsConfig *tls.Config
	log       *slog.Logger
	metrics   *metrics
	handler   http.Handler

	mu        sync.Mutex
	state     string // stateWaiting, stateActive or stateStopped
	startTime time.Time
	stopErr   string
	active    map[int64]*activeBatch // by batch time in ms
	completed ring
	totals    totals
	receivers map[int]*receiverState // by stream id
	degraded  map[string]dstream.Degradation
	// partitions are the inputs' partitions, by input name.
	partitions map[string]*inputPartitions
	// opStats count each output operation's runs since the start.
	opStats map[opKey]*opStat
	// lag is each input's consumer lag per partition, as of the last
	// batch that knew it, by input name.
	lag map[string][]dstream.PartitionLag
}

// opKey names an output operation: its id and name.
type opKey struct {
	id   int
	name string
}

// opStat counts an output operation's runs.
type opStat struct {
	done, failed, rejected int64
	rejectedBy             map[string]int64    // by RejectReasonOf
	wrote                  dstream.OutputStats // what its Output counted
}

// inputPartitions is what the Server knows of an input's partitions.
type inputPartitions struct {
	owned       []string
	events      map[string]int64 // by event: assigned, revoked, lost
	lastRestore time.Duration    // of the last assignment
	lastChange  time.Time
}

// partitionEvents are the events of dstream.PartitionsChange.
var partitionEvents = []string{"assigned", "revoked", "lost"}

// Streaming states reported by the API.
const (
	stateWaiting = "waiting" // the context has not started
	stateActive  = "active"  // the context runs
	stateStopped = "stopped" // the context has stopped
)

// Batch states reported by the API.
const (
	statusQueued     = "queued"
	statusProcessing = "processing"
	statusCompleted  = "completed"
	statusFailed     = "failed"
)

// totals count every batch since the start, retained or not.
type totals struct {
	completed, failed  int64 // finished batches; failed ones among them
	records            int64 // records of finished batches
	opsDone, opsFailed int64 // finished output operations; failed ones among them
	last               *dstream.BatchInfo
}

// activeBatch is a batch that has been submitted and has not completed.
type activeBatch struct {
	info dstream.BatchInfo // submission, then processing start
	meta []inputMeta       // its inputs' metadata (metadataOf)
	ops  []dstream.OutputOperationInfo
}

// retained is a completed batch the Server keeps.
type retained struct {
	info dstream.BatchInfo // trimmed: without the inputs' metadata
	meta []inputMeta       // the inputs' metadata (metadataOf)
}

// inputMeta is what an input said of a batch (dstream.InputInfo.Metadata),
// each entry as bounded JSON (boundEntry).
type inputMeta struct {
	entries map[string]json.RawMessage
	omitted map[string]int64 // list items left out, by key
}

// receiverState is what the Server knows about one receiver.
type receiverState struct {
	info    dstream.ReceiverInfo // LastError is nil: kept as text in lastErr
	lastErr string               // the text of the last error
	errors  int64                // errors reported
}

// ring holds the most recent completed batches, oldest first.
type ring struct {
	buf   []retained
	start int // index of the oldest
	n     int
}

func (r *ring) push(b retained) {
	if len(r.buf) == 0 {
		return
	}
	if r.n < len(r.buf) {
		r.buf[(r.start+r.n)%len(r.buf)] = b
		r.n++
		return
	}
	r.buf[r.start] = b
	r.start = (r.start + 1) % len(r.buf)
}

// all returns the batches, oldest first.
func (r *ring) all() []dstream.BatchInfo {
	out := make([]dstream.BatchInfo, 0, r.n)
	for i := range r.n {
		out = append(out, r.buf[(r.start+i)%len(r.buf)].info)
	}
	return out
}

// find returns the batch at key (ms).
func (r *ring) find(key int64) (retained, bool) {
	for i := range r.n {
		if b := r.buf[(r.start+i)%len(r.buf)]; b.info.BatchTime.UnixMilli() == key {
			return b, true
		}
	}
	return retained{}, false
}

// Option configures a Server.
type Option func(*Server) error

// WithRetainedBatches sets how many completed batches the Server keeps
// for its page and API. Default: DefaultRetainedBatches. n must be at
// least 1.
func WithRetainedBatches(n int) Option {
	return func(s *Server) error {
		if n < 1 {
			return fmt.Errorf("ui: retained batches %d must be at least 1", n)
		}
		s.retained = n
		return nil
	}
}

// WithName names the job on the page (its heading and title) and in the
// statistics (Statistics.Name), e.g. the command's name.
func WithName(name string) Option {
	return func(s *Server) error {
		s.name = name
		return nil
	}
}

// WithTLS serves the status page over HTTPS with cfg (its certificates
// set), from Start and ListenAndServe; Serve serves whatever listener it
// is given.
func WithTLS(cfg *tls.Config) Option {
	return func(s *Server) error {
		if cfg == nil || (len(cfg.Certificates) == 0 && cfg.GetCertificate == nil) {
			return errors.New("ui: WithTLS: a TLS configuration with a certificate is required")
		}
		s.tlsConfig = cfg.Clone()
		return nil
	}
}

// WithLogger sets the logger for the server's messages (where it listens,
// HTTP errors). Default: slog.Default().
func WithLogger(l *slog.Logger) Option {
	return func(s *Server) error {
		if l == nil {
			return errors.New("ui: nil logger")
		}
		s.log = l
		return nil
	}
}

// New returns a status page for a job whose batch interval is interval
// (the interval given to dstream.NewContext), which input rates are
// computed with: records per batch / interval.
func New(interval time.Duration, opts ...Option) (*Server, error) {
	if interval <= 0 {
		return nil, fmt.Errorf("ui: batch interval %v must be positive", interval)
	}
	s := &Server{
		interval:  interval,
		retained:  DefaultRetainedBatches,
		log:       slog.Default(),
		state:     stateWaiting,
		active:    map[int64]*activeBatch{},
		receivers: map[int]*receiverState{},
	}
	for _, o := range opts {
		if o == nil {
			continue
		}
		if err := o(s); err != nil {
			return nil, err
		}
	}
	if s.maxDelay == 0 {
		s.maxDelay = max(10*interval, 30*time.Second)
	}
	s.completed.buf = make([]retained, s.retained)
	s.metrics = newMetrics(s)
	s.handler = s.newHandler()
	return s, nil
}

// BatchInterval returns the batch interval the Server was created with.
func (s *Server) BatchInterval() time.Duration { return s.interval }

// Handler returns the HTTP handler of the status page: the page at /, its
// assets under /static/, the JSON API under /api/v1/streaming/, the
// health endpoints /healthz and /readyz, and the Prometheus metrics at
// /metrics. Its links are relative, so it can be
// mounted under a prefix with http.StripPrefix.
func (s *Server) Handler() http.Handler { return s.handler }

func (s *Server) newHandler() http.Handler {
	mux := http.NewServeMux()
	static, err := fs.Sub(assets, "assets")
	if err != nil {
		panic(err) // the embedded directory is always there
	}
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "no-store")
		http.ServeFileFS(w, r, static, "index.html")
	})
	files := http.StripPrefix("/static/", http.FileServerFS(static))
	mux.HandleFunc("GET /static/", func(w http.ResponseWriter, r *http.Request) {
		// The assets, never a listing of them.
		name := strings.TrimPrefix(r.URL.Path, "/static/")
		if fi, err := fs.Stat(static, cmp.Or(strings.TrimSuffix(name, "/"), ".")); err != nil || fi.IsDir() {
			http.NotFound(w, r)
			return
		}
		files.ServeHTTP(w, r)
	})
	s.registerAPI(mux)
	s.registerHealth(mux)
	mux.Handle("GET /metrics", s.metrics.handler())
	return mux
}

// ListenAndServe listens on addr and serves the status page until ctx is
// done, then shuts the server down
// gracefully, waiting up to 5 seconds for requests in flight. It logs the
// page's URL. It returns nil after ctx is done, or the error that stopped
// it.
func (s *Server) ListenAndServe(ctx context.Context, addr string) error {
	url, done, err := s.Start(ctx, addr)
	if err != nil {
		return err
	}
	s.log.Info("ui: status page", "url", url)
	return <-done
}

// Start listens on addr and serves the status page in the background
// until ctx is done, like ListenAndServe, but returns once it listens:
// url is the page's address, and done receives Serve's result (nil after
// a graceful shutdown) when the server has stopped. A program cancels ctx
// and reads done before it exits.
//
// addr is host:port. Without a host (":4040"; ":0" picks a free port) the
// page listens on the loopback address 127.0.0.1 only: the status page
// and its API are for the machine's operator unless an address says
// otherwise, such as "0.0.0.0:4040" for every interface (logged as a
// warning without WithTLS) or a host's own address. With WithTLS it
// serves HTTPS.
func (s *Server) Start(ctx context.Context, addr string) (url string, done <-chan error, err error) {
	addr, err = listenAddr(addr)
	if err != nil {
		return "", nil, err
	}
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", addr)
	if err != nil {
		return "", nil, fmt.Errorf("ui: listen: %w", err)
	}
	if tcp, ok := ln.Addr().(*net.TCPAddr); ok && !tcp.IP.IsLoopback() && s.tlsConfig == nil {
		s.log.Warn("ui: the status page is served over plain HTTP on a non-loopback address; give it a certificate (-ui-tls-cert) or a loopback address", "addr", ln.Addr().String())
	}
	url = URL(ln)
	if s.tlsConfig != nil {
		ln = tls.NewListener(ln, s.tlsConfig)
		url = "https" + strings.TrimPrefix(url, "http")
	}
	ch := make(chan error, 1)
	go func() { ch <- s.Serve(ctx, ln) }()
	return url, ch, nil
}

// listenAddr returns addr with the loopback host when it has none.
func listenAddr(addr string) (string, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return "", fmt.Errorf("ui: address %q: want host:port, or :port for loopback only: %w", addr, err)
	}
	if host == "" {
		host = "127.0.0.1"
	}
	return net.JoinHostPort(host, port), nil
}

// Serve serves the status page on ln until ctx is done, then shuts down
// gracefully like ListenAndServe. It closes ln.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	hs := &http.Server{
		Handler:           s.handler,
		ReadHeaderTimeout: 10 * time.Second,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelWarn),
		BaseContext:       func(net.Listener) context.Context { return context.WithoutCancel(ctx) },
	}
	errc := make(chan error, 1)
	go func() { errc <- hs.Serve(ln) }()
	select {
	case err := <-errc:
		return fmt.Errorf("ui: serve: %w", err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), shutdownTimeout)
	defer cancel()
	err := hs.Shutdown(sctx)
	if serr := <-errc; serr != nil && !errors.Is(serr, http.ErrServerClosed) && err == nil {
		err = serr
	}
	if err != nil {
		return fmt.Errorf("ui: shutdown: %w", err)
	}
	return nil
}

// URL returns the http:// URL of the status page served on ln, with the
// host localhost for a listener on all addresses ("0.0.0.0:4040").
func URL(ln net.Listener) string {
	addr := ln.Addr().String()
	if tcp, ok := ln.Addr().(*net.TCPAddr); ok && tcp.IP.IsUnspecified() {
		addr = net.JoinHostPort("localhost", strconv.Itoa(tcp.Port))
	}
	return "http://" + addr + "/"
}

// Registry returns the Prometheus registry behind /metrics, so that a
// program can add its own collectors to the same endpoint. It is not
// prometheus.DefaultRegisterer.
func (s *Server) Registry() *prometheus.Registry { return s.metrics.reg }

// OnStreamingStarted implements dstream.StreamingStartedListener.
func (s *Server) OnStreamingStarted(t time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.state, s.startTime, s.stopErr = stateActive, t, ""
}

// OnStreamingStopped implements dstream.StreamingStoppedListener.
func (s *Server) OnStreamingStopped(err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.state = stateStopped
	// Batches queued when the context stopped will not run.
	clear(s.active)
	if err != nil {
		s.stopErr = err.Error()
	}
}

// OnHealthChanged implements dstream.HealthChangedListener: the page and
// the statistics say which dependencies are degraded, and why.
func (s *Server) OnHealthChanged(d dstream.Degradation) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if d.Err == nil {
		delete(s.degraded, d.Component)
		return
	}
	if s.degraded == nil {
		s.degraded = map[string]dstream.Degradation{}
	}
	s.degraded[d.Component] = d
}

// OnPartitionsChanged implements dstream.PartitionsChangedListener: the
// page, the statistics and the metrics show each input's partitions, how
// often they changed and how long the last assignment's restore took.
func (s *Server) OnPartitionsChanged(ch dstream.PartitionsChange) {
	s.metrics.restoreObserve(ch)
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.partitions == nil {
		s.partitions = map[string]*inputPartitions{}
	}
	p := s.partitions[ch.Input]
	if p == nil {
		p = &inputPartitions{events: map[string]int64{}}
		s.partitions[ch.Input] = p
	}
	p.owned = slices.Clone(ch.Owned)
	p.events[ch.Event]++
	p.lastChange = ch.Time
	if ch.Event == "assigned" {
		p.lastRestore = ch.Restore
	}
}

// OnBatchSubmitted implements dstream.BatchSubmittedListener. The
// batch's input metadata is shown from now on.
func (s *Server) OnBatchSubmitted(b dstream.BatchInfo) {
	meta := metadataOf(b.Inputs) // outside the lock: it marshals
	b = trim(b)
	s.mu.Lock()
	defer s.mu.Unlock()
	key := b.BatchTime.UnixMilli()
	// The generator reports a submission after queueing the batch, so the
	// runner may have started or even finished it already.
	if _, ok := s.active[key]; ok || s.doneLocked(key) || s.state == stateStopped {
		return
	}
	s.active[key] = &activeBatch{info: b, meta: meta}
}

// OnBatchStarted implements dstream.BatchStartedListener.
func (s *Server) OnBatchStarted(b dstream.BatchInfo) {
	meta := s.metadataFor(b)
	b = trim(b)
	s.mu.Lock()
	defer s.mu.Unlock()
	key := b.BatchTime.UnixMilli()
	a := s.active[key]
	if a == nil {
		a = &activeBatch{}
		s.active[key] = a
	}
	a.info, a.meta = b, meta
}

// metadataFor returns the bounded metadata of b's inputs: that of the
// active batch when known (the inputs' metadata does not change while a
// batch runs), else metadataOf(b.Inputs).
func (s *Server) metadataFor(b dstream.BatchInfo) []inputMeta {
	s.mu.Lock()
	a := s.active[b.BatchTime.UnixMilli()]
	var meta []inputMeta
	if a != nil && len(a.meta) == len(b.Inputs) {
		meta = a.meta
	}
	s.mu.Unlock()
	if meta != nil {
		return meta
	}
	return metadataOf(b.Inputs) // outside the lock: it marshals
}

// doneLocked reports whether the batch at key (ms) has completed: batches
// complete in time order. s.mu must be held.
func (s *Server) doneLocked(key int64) bool {
	return s.totals.last != nil && key <= s.totals.last.BatchTime.UnixMilli()
}

// OnOutputOperationStarted implements dstream.OutputOperationStartedListener.
func (s *Server) OnOutputOperationStarted(o dstream.OutputOperationInfo) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if a := s.active[o.BatchTime.UnixMilli()]; a != nil {
		a.ops = append(a.ops, o)
	}
}

// OnOutputOperationCompleted implements dstream.OutputOperationCompletedListener.
func (s *Server) OnOutputOperationCompleted(o dstream.OutputOperationInfo) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.totals.opsDone++
	if o.Err != nil {
		s.totals.opsFailed++
	}
	if s.opStats == nil {
		s.opStats = map[opKey]*opStat{}
	}
	k := opKey{o.ID, o.Name}
	st := s.opStats[k]
	if st == nil {
		st = &opStat{}
		s.opStats[k] = st
	}
	st.done++
	st.rejected += o.Rejected
	st.wrote = st.wrote.Add(o.Wrote)
	if o.Rejected > 0 && st.rejectedBy == nil {
		st.rejectedBy = map[string]int64{}
	}
	byReason := int64(0)
	for r, n := range o.RejectedBy {
		st.rejectedBy[r] += n
		byReason += n
	}
	if o.Rejected > byReason { // an event made without reasons
		st.rejectedBy["other"] += o.Rejected - byReason
	}
	if o.Err != nil {
		st.failed++
	}
	a := s.active[o.BatchTime.UnixMilli()]
	if a == nil {
		return
	}
	for i := range a.ops {
		if a.ops[i].ID == o.ID {
			a.ops[i] = o
			return
		}
	}
	a.ops = append(a.ops, o)
}

// OnBatchCompleted implements dstream.BatchCompletedListener.
func (s *Server) OnBatchCompleted(b dstream.BatchInfo) {
	meta := s.metadataFor(b)
	b = trim(b)
	s.metrics.observe(b)
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, in := range b.Inputs {
		if in.Lag != nil {
			if s.lag == nil {
				s.lag = map[string][]dstream.PartitionLag{}
			}
			s.lag[in.Name] = in.Lag
		}
	}
	delete(s.active, b.BatchTime.UnixMilli())
	s.completed.push(retained{info: b, meta: meta})
	t := &s.totals
	t.completed++
	if b.Err != nil {
		t.failed++
	}
	n := records(b)
	t.records += max(n, 0)
	t.last = &b
}

// OnReceiverStarted implements dstream.ReceiverStartedListener.
func (s *Server) OnReceiverStarted(r dstream.ReceiverInfo) { s.receiver(r, false) }

// OnReceiverError implements dstream.ReceiverErrorListener.
func (s *Server) OnReceiverError(r dstream.ReceiverInfo) { s.receiver(r, true) }

// OnReceiverStopped implements dstream.ReceiverStoppedListener.
func (s *Server) OnReceiverStopped(r dstream.ReceiverInfo) { s.receiver(r, false) }

func (s *Server) receiver(r dstream.ReceiverInfo, isErr bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	rs := s.receivers[r.StreamID]
	if rs == nil {
		rs = &receiverState{}
		s.receivers[r.StreamID] = rs
	}
	if r.LastErrorMessage == "" && r.LastError == nil && r.LastErrorTime.IsZero() {
		// An event without error details keeps the last error known.
		r.LastErrorMessage, r.LastErrorTime = rs.info.LastErrorMessage, rs.info.LastErrorTime
	} else {
		rs.lastErr = ""
		if r.LastError != nil {
			rs.lastErr = r.LastError.Error()
		}
	}
	r.LastError = nil
	rs.info = r
	if isErr {
		rs.errors++
	}
}

// trim returns b without the inputs' metadata (offset ranges, file
// names), which the Server keeps as bounded JSON instead (metadataOf),
// so that retained batches stay small and hold nothing of the sources'.
func trim(b dstream.BatchInfo) dstream.BatchInfo {
	if len(b.Inputs) > 0 {
		in := make([]dstream.InputInfo, len(b.Inputs))
		for i, x := range b.Inputs {
			x.Metadata = nil
			in[i] = x
		}
		b.Inputs = in
	}
	b.OutputOperations = slices.Clone(b.OutputOperations)
	return b
}

// metadataOf returns the metadata of the inputs as bounded JSON, by
// input index; nil when no input has any.
func metadataOf(inputs []dstream.InputInfo) []inputMeta {
	var out []inputMeta
	for i, in := range inputs {
		if len(in.Metadata) == 0 {
			continue
		}
		if out == nil {
			out = make([]inputMeta, len(inputs))
		}
		m := inputMeta{entries: make(map[string]json.RawMessage, len(in.Metadata))}
		for k, v := range in.Metadata {
			raw, omitted := boundEntry(v)
			m.entries[k] = raw
			if omitted > 0 {
				if m.omitted == nil {
					m.omitted = map[string]int64{}
				}
				m.omitted[k] = omitted
			}
		}
		out[i] = m
	}
	return out
}

// boundEntry returns v as JSON within the bounds: a list (a JSON array)
// keeps its first MaxMetadataItems items, and of those as many as fit in
// MaxMetadataBytes, omitted counting the items left out; another value
// longer than MaxMetadataBytes, or one that cannot be marshaled (or whose
// MarshalJSON panics), becomes a JSON string saying why it is not shown.
func boundEntry(v any) (raw json.RawMessage, omitted int64) {
	// A long slice is cut before marshaling, not after: a source's list
	// of a million files is not encoded to be thrown away. []byte is a
	// string in JSON, not a list.
	if rv := reflect.ValueOf(v); rv.Kind() == reflect.Slice && rv.Type().Elem().Kind() != reflect.Uint8 && rv.Len() > MaxMetadataItems {
		omitted = int64(rv.Len() - MaxMetadataItems)
		v = rv.Slice(0, MaxMetadataItems).Interface()
	}
	b, err := marshalSafely(v)
	if err != nil {
		return notShown("cannot be encoded as JSON: " + err.Error()), 0
	}
	if len(b) <= MaxMetadataBytes {
		return b, omitted
	}
	var items []json.RawMessage
	if b[0] == '[' && json.Unmarshal(b, &items) == nil {
		size, keep := len("[]"), 0
		for ; keep < len(items); keep++ {
			size += len(items[keep]) + len(",")
			if size > MaxMetadataBytes {
				break
			}
		}
		kept, err := json.Marshal(items[:keep])
		if err == nil {
			return kept, omitted + int64(len(items)-keep)
		}
	}
	return notShown(fmt.Sprintf("%d bytes of JSON, over the limit of %d", len(b), MaxMetadataBytes)), 0
}

// marshalSafely is json.Marshal, with a panic of a MarshalJSON method as
// an error: a source's odd metadata must not stop the engine's listener.
func marshalSafely(v any) (b []byte, err error) {
	defer func() {
		if r := recover(); r != nil {
			b, err = nil, fmt.Errorf("panic: %v", r)
		}
	}()
	return json.Marshal(v)
}

// notShown is a JSON string: "not shown: " and why.
func notShown(why string) json.RawMessage {
	b, _ := json.Marshal("not shown: " + why) // a string always marshals
	return b
}

// records returns the batch's records, or -1 when an input does not know
// its count yet (a lazily read input before the batch has run).
func records(b dstream.BatchInfo) int64 {
	var n int64
	for _, in := range b.Inputs {
		if in.NumRecords < 0 {
			return -1
		}
		n += in.NumRecords
	}
	return n
}

// sortedReceiversLocked returns the receivers by stream id. s.mu must be held.
func (s *Server) sortedReceiversLocked() []*receiverState {
	out := make([]*receiverState, 0, len(s.receivers))
	for _, r := range s.receivers {
		out = append(out, r)
	}
	slices.SortFunc(out, func(a, b *receiverState) int { return cmp.Compare(a.info.StreamID, b.info.StreamID) })
	return out
}
