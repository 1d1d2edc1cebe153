package kudu

import (
	"context"
	"errors"
	"fmt"
	"strings"
)

// masterLeader returns the leader master's address, asking every master
// with ConnectToMaster if it is not known.
func (c *Client) masterLeader(ctx context.Context, attempt int) (string, error) {
	c.mu.Lock()
	l := c.leader
	c.mu.Unlock()
	if l != "" {
		return l, nil
	}
	var lastErr error
	for ; attempt < c.cfg.maxAttempts; attempt++ {
		l, err := c.findLeader(ctx)
		if err == nil {
			c.mu.Lock()
			c.leader = l
			c.mu.Unlock()
			return l, nil
		}
		lastErr = err
		if ctx.Err() != nil || securityError(err) || errors.Is(err, ErrClosed) {
			break
		}
		if err := c.backoff(ctx, attempt); err != nil {
			break
		}
	}
	return "", errorf("no leader master among %v: %w", c.masters, lastErr)
}

// RaftPeerPB.Role LEADER (src/kudu/consensus/metadata.proto).
const roleLeader = 1

// findLeader asks all masters concurrently and returns the first that says
// it is the LEADER.
func (c *Client) findLeader(ctx context.Context) (string, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	type result struct {
		addr   string
		leader bool
		err    error
	}
	ch := make(chan result, len(c.masters))
	for _, m := range c.masters {
		go func() {
			r := result{addr: m}
			cn, err := c.getConn(ctx, m)
			if err == nil {
				var body []byte
				body, err = cn.call(ctx, masterService, "ConnectToMaster", nil, []uint32{masterFeatureConnectToMaster}, nil)
				if err == nil {
					r.leader, err = parseConnectToMaster(body)
				}
			}
			r.err = err
			ch <- r
		}()
	}
	var errs []error
	for range c.masters {
		r := <-ch
		if r.err == nil && r.leader {
			return r.addr, nil
		}
		if r.err != nil {
			if strings.Contains(r.err.Error(), r.addr) {
				errs = append(errs, unprefixed(r.err))
			} else {
				errs = append(errs, fmt.Errorf("%s: %w", r.addr, unprefixed(r.err)))
			}
		}
	}
	if len(errs) == 0 {
		return "", errors.New("kudu: no master reports itself as leader")
	}
	return "", joinErrors(errs)
}

// parseConnectToMaster decodes ConnectToMasterResponsePB {error=1, role=2}.
func parseConnectToMaster(b []byte) (leader bool, err error) {
	var merr *MasterError
	err = walkFields(b, func(f field) error {
		switch f.num {
		case 1:
			eb, err := f.bytes()
			if err != nil {
				return err
			}
			merr, err = parseMasterError(eb)
			return err
		case 2:
			r, err := f.int32v()
			leader = r == roleLeader
			return err
		}
		return nil
	})
	if err != nil {
		return false, err
	}
	if merr != nil && merr.Code != MasterNotTheLeader {
		return false, merr
	}
	return leader && merr == nil, nil
}

func (c *Client) clearLeader(addr string) {
	c.mu.Lock()
	if c.leader == addr {
		c.leader = ""
	}
	c.mu.Unlock()
}

// masterCall calls method on the leader master, following leadership
// changes and retrying transient failures. It returns the response body
// after checking its MasterErrorPB (field 1 of every response used here).
func (c *Client) masterCall(ctx context.Context, method string, req []byte, features []uint32) ([]byte, error) {
	var lastErr error
	for attempt := 0; attempt < c.cfg.maxAttempts; attempt++ {
		if attempt > 0 {
			if err := c.backoff(ctx, attempt-1); err != nil {
				return nil, errorf("%s: %w (last error: %v)", method, err, lastErr)
			}
		}
		leader, err := c.masterLeader(ctx, attempt)
		if err != nil {
			return nil, err
		}
		cn, err := c.getConn(ctx, leader)
		var body []byte
		if err == nil {
			body, err = cn.call(ctx, masterService, method, req, features, nil)
		}
		if err != nil {
			if ctx.Err() != nil {
				return nil, errorf("%s: %w", method, ctx.Err())
			}
			if retryableCallErr(err) {
				if errors.Is(err, ErrConnectionClosed) {
					c.clearLeader(leader)
				}
				lastErr = err
				continue
			}
			return nil, errorf("%s: %w", method, err)
		}
		merr, err := responseMasterError(body)
		if err != nil {
			return nil, errorf("%s response: %w", method, err)
		}
		if merr != nil {
			switch merr.Code {
			case MasterNotTheLeader, MasterCatalogManagerNotInitialized:
				c.clearLeader(leader)
				lastErr = merr
				continue
			case MasterTabletNotRunning:
				lastErr = merr
				continue
			}
			return nil, merr
		}
		return body, nil
	}
	return nil, errorf("%s: giving up after %d attempts: %w", method, c.cfg.maxAttempts, lastErr)
}

// responseMasterError extracts the MasterErrorPB in field 1, if any.
func responseMasterError(body []byte) (*MasterError, error) {
	var merr *MasterError
	err := walkFields(body, func(f field) error {
		if f.num != 1 {
			return nil
		}
		eb, err := f.bytes()
		if err != nil {
			return err
		}
		merr, err = parseMasterError(eb)
		return err
	})
	return merr, err
}

// joinedErrors is errors.Join on one line: the errors of several masters,
// separated by "; ".
type joinedErrors []error

func joinErrors(errs []error) error {
	if len(errs) == 1 {
		return errs[0]
	}
	return joinedErrors(errs)
}

// Error implements error.
func (e joinedErrors) Error() string {
	s := make([]string, len(e))
	for i, err := range e {
		s[i] = err.Error()
	}
	return strings.Join(s, "; ")
}

// Unwrap returns the errors.
func (e joinedErrors) Unwrap() []error { return e }
