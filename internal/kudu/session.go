package kudu

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
)

// Apply writes ops to table t and waits for the result.
//
// Operations are validated first; invalid ones are reported as RowErrors
// and not sent. The rest are routed to tablets by partition key, grouped
// per tablet in their original order, split into Write requests of at most
// MaxBatchBytes of row data, and sent to each tablet's leader; different
// tablets are written concurrently, requests of one tablet one after the
// other. Stale locations (NOT_THE_LEADER, TABLET_NOT_FOUND, broken
// connections) and busy servers are retried with exponential backoff,
// bounded by the attempt limit and ctx.
//
// The returned RowErrors (sorted by Index) are rows the client or the
// tablet server rejected; all other rows were applied. A non-nil error
// means some requests failed as a whole (after retries): their rows may or
// may not have been applied, so the caller should retry the batch (UPSERT
// and the *_IGNORE operations are idempotent). The RowErrors are valid
// even when error is non-nil.
func (c *Client) Apply(ctx context.Context, t *Table, ops []*Operation) ([]RowError, error) {
	ctx, cancel := c.withTimeout(ctx)
	defer cancel()
	a := &applier{c: c, t: t, ops: ops, keys: make([][]byte, len(ops))}
	idxs := make([]int, 0, len(ops))
	for i, op := range ops {
		switch {
		case op == nil:
			a.rowError(i, fmt.Errorf("%w: nil operation", ErrInvalidRow))
			continue
		case op.schema != t.schema:
			a.rowError(i, fmt.Errorf("%w: operation was not made by this table (%s)", ErrInvalidRow, t.name))
			continue
		case opNames[op.Type] == "" || op.Type == opSplitRow || op.Type == opRangeLowerBound || op.Type == opRangeUpperBound:
			a.rowError(i, fmt.Errorf("%w: operation type %v", ErrInvalidRow, op.Type))
			continue
		}
		if err := op.validate(op.Type, c.cfg.maxCellBytes); err != nil {
			a.rowError(i, err)
			continue
		}
		a.keys[i] = t.part.appendPartitionKey(nil, &op.Row)
		idxs = append(idxs, i)
	}
	a.sem = make(chan struct{}, c.cfg.maxConcurrency)
	a.route(ctx, idxs, 0)
	slices.SortFunc(a.rowErrs, func(x, y RowError) int { return x.Index - y.Index })
	return a.rowErrs, errors.Join(a.errs...)
}

// applier is the state of one Apply call.
type applier struct {
	c    *Client
	t    *Table
	ops  []*Operation
	keys [][]byte // partition key per op
	sem  chan struct{}

	mu      sync.Mutex
	rowErrs []RowError
	errs    []error
}

func (a *applier) rowError(i int, err error) {
	a.mu.Lock()
	a.rowErrs = append(a.rowErrs, RowError{Index: i, Op: a.ops[i], Err: err})
	a.mu.Unlock()
}

func (a *applier) fail(err error) {
	a.mu.Lock()
	a.errs = append(a.errs, err)
	a.mu.Unlock()
}

type tabletGroup struct {
	loc  *tabletLoc
	idxs []int
}

// route locates the tablet of each op in idxs and writes each tablet's ops
// concurrently; it returns when all are done.
func (a *applier) route(ctx context.Context, idxs []int, attempt int) {
	groups, order := a.group(ctx, idxs)
	var wg sync.WaitGroup
	for _, id := range order {
		g := groups[id]
		wg.Add(1)
		go func() {
			defer wg.Done()
			a.writeTablet(ctx, g, attempt)
		}()
	}
	wg.Wait()
}

// group maps ops to tablets, keeping op order within each tablet.
func (a *applier) group(ctx context.Context, idxs []int) (map[string]*tabletGroup, []string) {
	groups := map[string]*tabletGroup{}
	var order []string
	for n, i := range idxs {
		loc, err := a.t.locate(ctx, a.keys[i])
		if errors.Is(err, ErrNonCoveredRange) {
			a.rowError(i, fmt.Errorf("%w (table %s)", ErrNonCoveredRange, a.t.name))
			continue
		}
		if err != nil {
			a.fail(errorf("locating %d operations: %w", len(idxs)-n, err))
			break
		}
		g := groups[loc.id]
		if g == nil {
			g = &tabletGroup{loc: loc}
			groups[loc.id] = g
			order = append(order, loc.id)
		}
		g.idxs = append(g.idxs, i)
	}
	return groups, order
}

// chunks splits idxs into runs whose encoded row data stays within the
// batch limit (a run has at least one op).
func (a *applier) chunks(idxs []int) [][]int {
	var out [][]int
	start, size := 0, 0
	for n, i := range idxs {
		op := a.ops[i]
		r, ind := op.encodedSize(op.Type)
		if n > start && size+r+ind > a.c.cfg.maxBatchBytes {
			out = append(out, idxs[start:n])
			start, size = n, 0
		}
		size += r + ind
	}
	if start < len(idxs) {
		out = append(out, idxs[start:])
	}
	return out
}

// writeTablet writes a tablet's ops chunk by chunk. When a chunk fails in
// a way that means the locations changed, the chunk and the ones after it
// are routed again.
func (a *applier) writeTablet(ctx context.Context, g *tabletGroup, attempt int) {
	chunks := a.chunks(g.idxs)
	for n, chunk := range chunks {
		reroute, reached, err := a.writeChunk(ctx, g.loc, chunk, attempt)
		if err != nil {
			a.fail(err)
			return
		}
		if reroute {
			// writeChunk has backed off already.
			var remaining []int
			for _, ch := range chunks[n:] {
				remaining = append(remaining, ch...)
			}
			a.route(ctx, remaining, reached)
			return
		}
	}
}

// writeChunk sends one Write request for ops idxs to the leader of loc,
// retrying while the rows still map to the same tablet. reroute is true if
// the caller must locate the rows again (the cached location was
// invalidated and the rows now map elsewhere or the leader is unknown).
func (a *applier) writeChunk(ctx context.Context, loc *tabletLoc, idxs []int, attempt int) (reroute bool, reached int, err error) {
	c := a.c
	req := a.encodeWrite(loc.id, idxs)
	rid := c.newRequestID()
	defer c.finishRequestID(rid)
	var lastErr error
	for ; attempt < c.cfg.maxAttempts; attempt++ {
		if lastErr != nil {
			if err := c.backoff(ctx, attempt-1); err != nil {
				return false, attempt, errorf("tablet %s: %w (last error: %v)", loc.id, err, lastErr)
			}
			c.refreshRequestID(rid)
			if loc.leader == "" || a.t.locs.lookup(a.keys[idxs[0]], timeNow()) != loc {
				// Location was invalidated: look it up again and make sure
				// every row still belongs to the same tablet.
				nl, err := a.t.locate(ctx, a.keys[idxs[0]])
				if err != nil || nl.id != loc.id || nl.leader == "" {
					return true, attempt, nil
				}
				for _, i := range idxs[1:] {
					if !nl.contains(a.keys[i]) {
						return true, attempt, nil
					}
				}
				loc = nl
			}
		}
		if loc.leader == "" {
			a.t.locs.invalidate(loc.id)
			lastErr = fmt.Errorf("kudu: tablet %s has no leader", loc.id)
			continue
		}
		body, err := a.send(ctx, loc.leader, req, rid)
		if err != nil {
			if ctx.Err() != nil {
				return false, attempt, errorf("tablet %s: %w", loc.id, ctx.Err())
			}
			var re *RPCError
			switch {
			case errors.As(err, &re) && re.Code == RPCErrorInvalidAuthorizationToken:
				if err := a.t.refreshAuthz(ctx); err != nil {
					return false, attempt, err
				}
				req = a.encodeWrite(loc.id, idxs)
			case errors.As(err, &re) && re.Retryable():
			case errors.Is(err, ErrConnectionClosed):
				a.t.locs.invalidate(loc.id)
			default:
				return false, attempt, errorf("tablet %s: %w", loc.id, err)
			}
			lastErr = err
			continue
		}
		resp, err := parseWriteResponse(body)
		if err != nil {
			return false, attempt, errorf("tablet %s: write response: %w", loc.id, err)
		}
		if resp.err != nil {
			resp.err.TabletID = loc.id
			if !resp.err.retryable() {
				return false, attempt, resp.err
			}
			if resp.err.relocate() {
				a.t.locs.invalidate(loc.id)
			}
			lastErr = resp.err
			continue
		}
		if resp.timestamp != 0 {
			c.observeTimestamp(resp.timestamp)
		}
		for _, pe := range resp.rowErrors {
			if pe.index < 0 || pe.index >= len(idxs) {
				return false, attempt, errorf("tablet %s: %w", loc.id, malformed("row_index %d of %d rows", pe.index, len(idxs)))
			}
			a.rowError(idxs[pe.index], pe.status)
		}
		return false, attempt, nil
	}
	if lastErr == nil {
		lastErr = errors.New("retries exhausted while rerouting")
	}
	return false, attempt, errorf("tablet %s: giving up after %d attempts: %w", loc.id, c.cfg.maxAttempts, lastErr)
}

// send makes one Write call, holding a concurrency slot.
func (a *applier) send(ctx context.Context, addr string, req []byte, rid *requestID) ([]byte, error) {
	select {
	case a.sem <- struct{}{}:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	defer func() { <-a.sem }()
	cn, err := a.c.getConn(ctx, addr)
	if err != nil {
		return nil, err
	}
	r := *rid
	return cn.call(ctx, tserverService, "Write", req, nil, &r)
}

// encodeWrite builds the WriteRequestPB for ops idxs: tablet_id=1,
// schema=2, row_operations=3, external_consistency_mode=4
// (CLIENT_PROPAGATED=1), propagated_timestamp=5, authz_token=6.
func (a *applier) encodeWrite(tabletID string, idxs []int) []byte {
	nr, ni := 0, 0
	for _, i := range idxs {
		r, ind := a.ops[i].encodedSize(a.ops[i].Type)
		nr += r
		ni += ind
	}
	rows := make([]byte, 0, nr)
	indirect := make([]byte, 0, ni)
	for _, i := range idxs {
		op := a.ops[i]
		rows, indirect = op.appendRow(rows, indirect, op.Type)
	}
	return marshalWriteRequest(tabletID, a.t.schemaPB, rows, indirect, a.c.propagated.Load(), a.t.authz.Load())
}

func marshalWriteRequest(tabletID string, schemaPB, rows, indirect []byte, ts uint64, token *[]byte) []byte {
	b := make([]byte, 0, len(rows)+len(indirect)+len(schemaPB)+len(tabletID)+64)
	b = appendStringField(b, 1, tabletID)
	b = appendBytesField(b, 2, schemaPB)
	b = appendBytesField(b, 3, marshalRowOperations(rows, indirect))
	b = appendVarintField(b, 4, 1) // CLIENT_PROPAGATED
	if ts != 0 {
		b = appendFixed64Field(b, 5, ts)
	}
	if token != nil {
		b = appendBytesField(b, 6, *token)
	}
	return b
}

type perRowError struct {
	index  int
	status *StatusError
}

type writeResponse struct {
	err       *TabletServerError
	rowErrors []perRowError
	timestamp uint64
}

// parseWriteResponse decodes WriteResponsePB: error=1
// (TabletServerErrorPB {code=1, status=2}), per_row_errors=2 {row_index=1,
// error=2}, timestamp=3 (fixed64).
func parseWriteResponse(b []byte) (*writeResponse, error) {
	w := &writeResponse{}
	err := walkFields(b, func(f field) error {
		switch f.num {
		case 1:
			eb, err := f.bytes()
			if err != nil {
				return err
			}
			te := &TabletServerError{Code: TServerUnknownError}
			w.err = te
			return walkFields(eb, func(g field) error {
				var err error
				switch g.num {
				case 1:
					var c int32
					c, err = g.int32v()
					te.Code = TabletServerErrorCode(c)
				case 2:
					var sb []byte
					if sb, err = g.bytes(); err == nil {
						te.Status, err = parseAppStatus(sb)
					}
				}
				return err
			})
		case 2:
			eb, err := f.bytes()
			if err != nil {
				return err
			}
			pe := perRowError{index: -1}
			err = walkFields(eb, func(g field) error {
				var err error
				switch g.num {
				case 1:
					var v int32
					v, err = g.int32v()
					pe.index = int(v)
				case 2:
					var sb []byte
					if sb, err = g.bytes(); err == nil {
						pe.status, err = parseAppStatus(sb)
					}
				}
				return err
			})
			if err == nil && (pe.index < 0 || pe.status == nil) {
				err = malformed("per-row error without row_index or status")
			}
			w.rowErrors = append(w.rowErrors, pe)
			return err
		case 3:
			v, err := f.fixed64()
			w.timestamp = v
			return err
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return w, nil
}
