package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/microbatch-go/microbatch/dstream"
	"github.com/microbatch-go/microbatch/examples/internal/spot"
	"github.com/microbatch-go/microbatch/internal/kafkaprobe"
	"github.com/twmb/franz-go/pkg/kgo"
	"golang.org/x/sync/errgroup"
)

// collector is one run of the command.
type collector struct {
	o      options
	log    *slog.Logger
	stage  staging
	ledger *ledger
	client *kgo.Client

	mu       sync.Mutex
	inFlight map[string]bool      // captures being processed
	failed   map[string]bool      // captures whose conversion failed in this run: tried again on the next run
	seen     map[string]fileState // without -once: each capture's state at the previous scan
	total    totals
}

// fileState is what tells that a capture is still being written.
type fileState struct {
	size  int64
	mtime time.Time
}

// totals are the run's counts, for the summary.
type totals struct {
	captures, convFailed     int
	lines, skipped, rejected int
	chunksSent, chunksKept   int
	keptResent               int
}

func newCollector(o options, log *slog.Logger) (*collector, error) {
	c := &collector{
		o: o, log: log, stage: staging{o.staging},
		inFlight: map[string]bool{}, failed: map[string]bool{}, seen: map[string]fileState{},
	}
	if err := c.stage.init(); err != nil {
		return nil, err
	}
	l, err := openLedger(c.stage.ledgerPath())
	if err != nil {
		return nil, err
	}
	c.ledger = l
	c.client, err = kgo.NewClient(append([]kgo.Opt{
		kgo.SeedBrokers(o.brokers...),
		kgo.DefaultProduceTopic(o.topic),
		kgo.ProducerBatchMaxBytes(int32(o.maxRequest)),
		kgo.BrokerMaxWriteBytes(int32(max(o.maxRequest, 100<<20))),
		kgo.ProducerLinger(0), // one chunk at a time: no batching to wait for
		// A chunk fails within -send-timeout, the context of its
		// ProduceSync: a dead broker, a broker that does not answer, a
		// topic that does not exist. (kgo.RecordDeliveryTimeout cannot be
		// used: it counts from the record's timestamp, which is the
		// capture's time, often long past.)
		kgo.ProduceRequestTimeout(o.sendTimeout),
		kgo.RequestTimeoutOverhead(min(o.sendTimeout, 10*time.Second)),
		kgo.UnknownTopicRetries(2),
		// Idempotent writes still dedupe the client's own retries; this
		// lets the timeout fail a request in flight too (the chunk is then
		// kept and sent again: at least once).
		kgo.AllowIdempotentProduceCancellation(),
	}, o.kafkaClient...)...)
	if err != nil {
		l.close()
		return nil, fmt.Errorf("kafka client: %w", err)
	}
	return c, nil
}

func (c *collector) close() {
	c.client.Close()
	c.ledger.close()
}

// run re-sends the kept chunks, resumes the staged CSVs of an earlier run,
// then processes captures until ctx is done (with -once, once).
func (c *collector) run(ctx context.Context) error {
	c.log.Info("spot-collector starting", "type", c.o.typ, "watch", c.o.watch, "staging", c.o.staging,
		"brokers", strings.Join(c.o.brokers, ","), "topic", c.o.topic, "skip_conversion", c.o.skipConversion,
		"max_request_bytes", c.o.maxRequest, "pattern", c.o.pattern.String(), "once", c.o.once,
		"kafka_security", c.o.sec.Kafka.String())
	if err := c.checkBrokers(ctx); err != nil {
		return err
	}
	if err := c.resendKept(ctx); err != nil {
		return err
	}
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(c.o.workers)
	schedule := func(name, capture string) {
		c.mu.Lock()
		busy := c.inFlight[name]
		c.inFlight[name] = true
		c.mu.Unlock()
		if busy {
			return
		}
		g.Go(func() error {
			defer func() {
				c.mu.Lock()
				delete(c.inFlight, name)
				c.mu.Unlock()
			}()
			// A worker records a capture in the ledger before it leaves
			// inFlight, so a capture done since the scan is seen here.
			if c.ledger.has(name) {
				return nil
			}
			return c.process(gctx, name, capture)
		})
	}
	// Staged CSVs of an earlier run: finish them, even if their capture
	// has gone since.
	staged, err := c.stagedNames()
	if err != nil {
		return err
	}
	for _, name := range staged {
		schedule(name, "")
	}
	for gctx.Err() == nil {
		for _, cand := range c.scan() {
			if gctx.Err() != nil {
				break
			}
			schedule(cand.name, cand.path)
		}
		if c.o.once {
			break
		}
		select {
		case <-gctx.Done():
		case <-time.After(c.o.interval):
		}
	}
	err = g.Wait()
	return c.finish(err)
}

// checkBrokers asks the brokers for metadata, within -send-timeout, and
// fails the run when they refuse the collector's TLS or SASL settings: a
// password or a certificate that no retry makes good, which would
// otherwise keep every chunk. Brokers that cannot be reached pass: the
// chunks are kept for a later run.
func (c *collector) checkBrokers(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, c.o.sendTimeout)
	defer cancel()
	opts := append([]kgo.Opt{kgo.SeedBrokers(c.o.brokers...)}, c.o.kafkaClient...)
	if _, err := kafkaprobe.Metadata(ctx, opts, nil); kafkaprobe.Refused(err) {
		return &dstream.StartError{Check: "kafka brokers " + strings.Join(c.o.brokers, ","), Err: err}
	}
	return nil
}

// finish logs the summary and returns the run's error.
func (c *collector) finish(err error) error {
	kept, lerr := listKept(c.stage.failedDir())
	if err == nil {
		err = lerr
	}
	c.mu.Lock()
	t := c.total
	c.mu.Unlock()
	c.log.Info("summary", "captures", t.captures, "conversion_failures", t.convFailed,
		"lines", t.lines, "lines_skipped", t.skipped, "lines_rejected", t.rejected,
		"chunks_sent", t.chunksSent, "chunks_kept", t.chunksKept,
		"kept_chunks_resent", t.keptResent, "kept_chunks_waiting", len(kept))
	if err != nil {
		return err
	}
	if len(kept) > 0 {
		msg := fmt.Sprintf("%d chunks could not be sent and are kept in %s: run spot-collector again with -staging %s (for example with -skip-conversion -once) once the broker is reachable", len(kept), c.stage.failedDir(), c.o.staging)
		if c.o.once {
			return errors.New(msg)
		}
		c.log.Warn(msg)
	}
	if t.convFailed > 0 && c.o.once {
		return fmt.Errorf("%d captures could not be converted (see the log); the next run tries them again", t.convFailed)
	}
	return nil
}

func (c *collector) add(f func(t *totals)) {
	c.mu.Lock()
	f(&c.total)
	c.mu.Unlock()
}

// resendKept sends the chunks kept in failed/, each file as one chunk,
// and deletes each one sent. After the first failure the rest stay: the
// broker is not waited on again.
func (c *collector) resendKept(ctx context.Context) error {
	kept, err := listKept(c.stage.failedDir())
	if err != nil {
		return fmt.Errorf("staging: %w", err)
	}
	if len(kept) == 0 {
		return nil
	}
	c.log.Info("re-sending kept chunks", "chunks", len(kept), "dir", c.stage.failedDir())
	sent := 0
	for _, k := range kept {
		if ctx.Err() != nil {
			break
		}
		lines, err := readLines(k.path)
		if err != nil {
			return fmt.Errorf("staging: %w", err)
		}
		if len(lines) == 0 {
			c.log.Warn("kept chunk has no lines; removing it", "file", k.path)
			if err := removeSynced(k.path); err != nil {
				return fmt.Errorf("staging: %w", err)
			}
			continue
		}
		seg := spot.Segment{Index: k.id, Lines: lines}
		if t, ok := spot.LineTime(c.o.typ, lines[0]); ok {
			seg.Time = t
		} else {
			c.log.Warn("kept chunk's first line has no time; its record gets the time it is sent", "file", k.path)
		}
		if err := c.send(ctx, seg); err != nil {
			c.log.Warn("kept chunk not sent; it and the rest stay kept", "file", k.path, "err", err, "left", len(kept)-sent)
			break
		}
		if err := removeSynced(k.path); err != nil {
			return fmt.Errorf("staging: %w", err)
		}
		sent++
		c.log.Info("kept chunk sent", "file", k.path, "lines", len(lines))
	}
	c.add(func(t *totals) { t.keptResent += sent })
	return nil
}

// stagedNames returns the captures with a staged CSV. Those already in
// the ledger (a crash after the ledger was synced) are cleaned up.
func (c *collector) stagedNames() ([]string, error) {
	var names []string
	err := filepath.WalkDir(c.stage.csvDir(), func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() || isTemp(d.Name()) || !strings.HasSuffix(p, ".csv") {
			return nil
		}
		rel, err := filepath.Rel(c.stage.csvDir(), p)
		if err != nil {
			return err
		}
		name := strings.TrimSuffix(filepath.ToSlash(rel), ".csv")
		if c.ledger.has(name) {
			return removeSynced(p, p+".progress")
		}
		names = append(names, name)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("staging: %w", err)
	}
	return names, nil
}

// candidate is a capture found by a scan.
type candidate struct{ name, path string }

// scan returns the captures under -watch that are due: matching
// -pattern, not in the ledger, not being processed, not failed in this
// run, and without -once unchanged since the previous scan.
func (c *collector) scan() []candidate {
	var out []candidate
	seen := map[string]fileState{}
	err := filepath.WalkDir(c.o.watch, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			c.log.Warn("cannot read", "path", p, "err", err)
			return nil // skip what cannot be read
		}
		if d.IsDir() || !c.o.pattern.MatchString(d.Name()) {
			return nil
		}
		info, err := os.Stat(p) // follows a symbolic link
		if err != nil || !info.Mode().IsRegular() {
			return nil
		}
		rel, err := filepath.Rel(c.o.watch, p)
		if err != nil {
			return nil
		}
		name := filepath.ToSlash(rel)
		if strings.ContainsAny(name, "\n\r") {
			c.mu.Lock()
			if !c.failed[name] {
				c.failed[name] = true
				c.log.Error("capture name holds a line break; the ledger cannot record it, skipped", "path", p)
			}
			c.mu.Unlock()
			return nil
		}
		if c.ledger.has(name) {
			return nil
		}
		state := fileState{info.Size(), info.ModTime()}
		seen[name] = state
		c.mu.Lock()
		due := !c.inFlight[name] && !c.failed[name] && (c.o.once || c.seen[name] == state)
		c.mu.Unlock()
		if due {
			out = append(out, candidate{name, p})
		}
		return nil
	})
	if err != nil {
		c.log.Warn("scan", "dir", c.o.watch, "err", err)
	}
	c.mu.Lock()
	c.seen = seen
	c.mu.Unlock()
	return out
}

// process converts a capture (unless it is staged already) and publishes
// it. Its error is fatal for the run; a failed conversion is only logged.
func (c *collector) process(ctx context.Context, name, capture string) error {
	if ctx.Err() != nil {
		return nil // stopping: the next run takes it
	}
	csvPath := c.stage.csv(name)
	if _, err := os.Stat(csvPath); err != nil {
		if !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("staging: %w", err)
		}
		start := time.Now()
		if err := c.convert(ctx, capture, csvPath); err != nil {
			if ctx.Err() != nil {
				return nil // stopped: the next run converts it again
			}
			c.mu.Lock()
			c.failed[name] = true
			c.total.convFailed++
			c.mu.Unlock()
			c.log.Error("conversion failed; the capture is not marked processed and the next run tries it again", "capture", name, "err", err)
			return nil
		}
		c.log.Debug("converted", "capture", name, "took", time.Since(start))
	} else {
		c.log.Info("resuming a staged capture", "capture", name, "csv", csvPath)
	}
	return c.publish(ctx, name, csvPath)
}

// convert writes the Spot CSV of capture to dst, through a temporary
// file renamed when complete.
func (c *collector) convert(ctx context.Context, capture, dst string) error {
	return writeFileAtomic(dst, func(w io.Writer) error {
		switch {
		case c.o.skipConversion || c.o.typ == spot.Proxy:
			f, err := os.Open(capture)
			if err != nil {
				return err
			}
			defer f.Close()
			_, err = io.Copy(w, f)
			return err
		case c.o.typ == spot.Flow:
			return c.runNfdump(ctx, capture, w)
		default:
			return c.runTool(ctx, w, c.o.tshark, "-r", capture,
				"-E", "separator=,", "-E", "header=y", "-E", "occurrence=f", "-T", "fields",
				"-e", "frame.time", "-e", "frame.time_epoch", "-e", "frame.len", "-e", "ip.src", "-e", "ip.dst",
				"-e", "dns.resp.name", "-e", "dns.resp.type", "-e", "dns.resp.class", "-e", "dns.flags.rcode", "-e", "dns.a",
				"-Y", "dns.flags.response == 1")
		}
	})
}

// maxToolStderr bounds the standard error of a tool kept for messages.
const maxToolStderr = 4 << 10

// runTool runs a conversion tool with TZ=UTC, its output to w.
func (c *collector) runTool(ctx context.Context, w io.Writer, tool string, args ...string) error {
	cmd := exec.CommandContext(ctx, tool, args...)
	cmd.Env = append(os.Environ(), "TZ=UTC")
	cmd.Stdout = w
	stderr := &limitedBuffer{max: maxToolStderr}
	cmd.Stderr = stderr
	if err := cmd.Run(); err != nil {
		return toolError(tool, args, err, stderr)
	}
	return nil
}

// runNfdump runs nfdump -r capture -o csv with TZ=UTC and maps its CSV
// onto Spot's layout into w.
func (c *collector) runNfdump(ctx context.Context, capture string, w io.Writer) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	args := []string{"-r", capture, "-o", "csv"}
	cmd := exec.CommandContext(ctx, c.o.nfdump, args...)
	cmd.Env = append(os.Environ(), "TZ=UTC")
	stderr := &limitedBuffer{max: maxToolStderr}
	cmd.Stderr = stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		return err
	}
	if err := cmd.Start(); err != nil {
		return toolError(c.o.nfdump, args, err, stderr)
	}
	records, convErr := spot.ConvertNfdumpCSV(out, w)
	if convErr != nil {
		cancel() // stop nfdump: its output is of no use
	}
	waitErr := cmd.Wait()
	switch {
	case convErr != nil && waitErr != nil && ctx.Err() == nil:
		return toolError(c.o.nfdump, args, waitErr, stderr)
	case convErr != nil:
		return fmt.Errorf("%s %s: %w", c.o.nfdump, strings.Join(args, " "), convErr)
	case waitErr != nil:
		return toolError(c.o.nfdump, args, waitErr, stderr)
	case records == 0 && strings.TrimSpace(stderr.String()) != "":
		// nfdump exits 0 on a file it cannot read ("Short read from
		// file"), printing no records.
		return fmt.Errorf("%s %s printed no records and: %s", c.o.nfdump, strings.Join(args, " "), strings.TrimSpace(stderr.String()))
	}
	return nil
}

func toolError(tool string, args []string, err error, stderr *limitedBuffer) error {
	msg := strings.TrimSpace(stderr.String())
	if msg == "" {
		msg = "no message"
	}
	return fmt.Errorf("%s %s: %w: %s", tool, strings.Join(args, " "), err, msg)
}

// limitedBuffer keeps the first max bytes written to it.
type limitedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
	max int
}

func (b *limitedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if room := b.max - b.buf.Len(); room > 0 {
		b.buf.Write(p[:min(len(p), room)])
	}
	return len(p), nil
}

func (b *limitedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// errStopped ends a split when the collector is stopping.
var errStopped = errors.New("stopping")

// publish splits a staged CSV into chunks and sends those not handled
// yet; once one fails, it and the rest are kept. Then the capture goes
// into the ledger and its staged files are removed.
func (c *collector) publish(ctx context.Context, name, csvPath string) error {
	prog, err := openProgress(csvPath+".progress", spot.ChunkBudget(c.o.maxRequest))
	if err != nil {
		return fmt.Errorf("staging: %w", err)
	}
	defer prog.close()
	if prog.done > 0 {
		c.log.Info("resuming after the chunks already handled", "capture", name, "chunks", prog.done)
	}
	f, err := os.Open(csvPath)
	if err != nil {
		return fmt.Errorf("staging: %w", err)
	}
	defer f.Close()
	rejected := &rejectFile{path: c.stage.rejected(name)}
	defer rejected.close()
	resumedSent, resumedKept := prog.sent, prog.kept
	var sendErr error // the first failed chunk's
	st, err := spot.Splitter{
		Type:   c.o.typ,
		Budget: prog.budget,
		OnSegment: func(seg spot.Segment) error {
			if seg.Index < prog.done {
				return nil // handled before a restart
			}
			if ctx.Err() != nil {
				return errStopped
			}
			if sendErr == nil {
				sendErr = c.send(ctx, seg)
				if sendErr == nil {
					return prog.add(seg.Index, true)
				}
				c.log.Warn("chunk not sent; keeping it and the rest of the capture's chunks", "capture", name, "chunk", seg.Index, "err", sendErr)
			}
			p := c.stage.kept(name, seg.Index)
			err := writeFileAtomic(p, func(w io.Writer) error {
				for _, l := range seg.Lines {
					if _, err := io.WriteString(w, l+"\n"); err != nil {
						return err
					}
				}
				return nil
			})
			if err != nil {
				return err
			}
			return prog.add(seg.Index, false)
		},
		OnReject: func(lineNo int, line string) error {
			c.log.Warn("line too large for any message; kept in rejected/", "capture", name, "line", lineNo, "bytes", len(line), "file", rejected.path)
			return rejected.add(line)
		},
	}.Split(f)
	c.add(func(t *totals) {
		t.chunksSent += prog.sent - resumedSent
		t.chunksKept += prog.kept - resumedKept
	})
	if errors.Is(err, errStopped) {
		c.log.Info("stopped; the next run resumes the capture", "capture", name, "chunks_handled", prog.done)
		return nil
	}
	if err != nil {
		return fmt.Errorf("publishing %s: %w", name, err)
	}
	if err := rejected.close(); err != nil {
		return fmt.Errorf("staging: %w", err)
	}
	if err := c.ledger.add(name); err != nil {
		return err
	}
	if err := removeSynced(csvPath, csvPath+".progress"); err != nil {
		return fmt.Errorf("staging: %w", err)
	}
	c.add(func(t *totals) {
		t.captures++
		t.lines += st.Sent
		t.skipped += st.Skipped
		t.rejected += st.Rejected
	})
	level := slog.LevelInfo
	if prog.kept > 0 || st.Rejected > 0 {
		level = slog.LevelWarn
	}
	if st.Sent == 0 && st.Rejected == 0 {
		c.log.Warn("capture has no line with a time", "capture", name, "lines_skipped", st.Skipped)
	}
	c.log.Log(ctx, level, "capture done", "capture", name, "lines", st.Sent, "chunks", st.Segments,
		"chunks_sent", prog.sent, "chunks_kept", prog.kept, "lines_skipped", st.Skipped, "lines_rejected", st.Rejected)
	return nil
}

// send produces one chunk and waits for its acknowledgment, for at most
// -send-timeout. A stopping collector still waits for the chunk in
// flight.
func (c *collector) send(ctx context.Context, seg spot.Segment) error {
	value, err := spot.EncodeChunk(seg.Lines)
	if err != nil {
		return err
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), c.o.sendTimeout)
	defer cancel()
	err = c.client.ProduceSync(sctx, &kgo.Record{Value: value, Timestamp: seg.Time}).FirstErr()
	if errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("not acknowledged within -send-timeout %v (are the brokers %s reachable?): %w", c.o.sendTimeout, strings.Join(c.o.brokers, ","), err)
	}
	return err
}
