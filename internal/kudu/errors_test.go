package kudu

import (
	"context"
	"errors"
	"net"
	"strings"
	"testing"
	"time"
)

// TestErrorsCarryPrefixOnce checks that errors made of other errors of the
// package name "kudu:" once (not "kudu: kudu: ..."), and still wrap their
// causes for errors.Is and errors.As.
func TestErrorsCarryPrefixOnce(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	fast := []Option{WithBackoff(time.Millisecond, 2*time.Millisecond), WithMaxAttempts(3)}
	fc := newFakeCluster(t, false)
	c, err := Open(ctx, fc.masterAddrs(), fast...)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	tbl, err := c.Table(ctx, "t")
	if err != nil {
		t.Fatal(err)
	}
	ranged := newFakeCluster(t, true)
	rc, err := Open(ctx, ranged.masterAddrs(), fast...)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	rtbl, err := rc.Table(ctx, "t")
	if err != nil {
		t.Fatal(err)
	}
	upsert := func(tbl *Table, k int64) *Operation {
		op := tbl.NewUpsert()
		if err := op.Set("k", k); err != nil {
			t.Fatal(err)
		}
		return op
	}
	firstRowError := func(c *Client, tbl *Table, op *Operation) error {
		rowErrs, err := c.Apply(ctx, tbl, []*Operation{op})
		if err != nil {
			return err
		}
		if len(rowErrs) != 1 {
			t.Fatalf("row errors %v, want 1", rowErrs)
		}
		return rowErrs[0]
	}
	isRPCError := func(err error) bool { var re *RPCError; return errors.As(err, &re) }

	for _, tc := range []struct {
		name string
		err  func() error
		want string           // in the message
		is   func(error) bool // the cause is still wrapped
	}{
		{
			name: "Open: the server requires TLS",
			err: func() error {
				s := newFakeServer(t, negotiateReply{errCode: RPCFatalUnauthorized, errMsg: "client does not support required TLS encryption"}, nil)
				_, err := Open(ctx, []string{s.addr}, fast...)
				return err
			},
			want: "no leader master among",
			is: func(err error) bool {
				return errors.Is(err, ErrUnsupportedSecurity) && isRPCError(err)
			},
		},
		{
			name: "Open: the master cannot be dialed",
			err: func() error {
				_, err := Open(ctx, []string{"m:7051"}, append(fast, WithDialer(func(context.Context, string, string) (net.Conn, error) {
					return nil, errors.New("dial m:7051: connection refused")
				}))...)
				return err
			},
			want: "connection refused",
			is:   func(err error) bool { return errors.Is(err, ErrConnectionClosed) },
		},
		{
			name: "master call: RPC error",
			err: func() error {
				_, err := c.masterCall(ctx, "NoSuchMethod", nil, nil)
				return err
			},
			want: "NoSuchMethod: rpc error",
			is:   isRPCError,
		},
		{
			name: "Table: not found",
			err: func() error {
				_, err := c.Table(ctx, "missing")
				return err
			},
			want: "no table missing",
			is:   func(err error) bool { return errors.Is(err, ErrTableNotFound) },
		},
		{
			name: "Apply: the tablet server stays busy",
			err: func() error {
				fc.mu.Lock()
				fc.tsBusy[0], fc.tsBusy[1] = 1<<30, 1<<30
				fc.mu.Unlock()
				defer func() {
					fc.mu.Lock()
					fc.tsBusy[0], fc.tsBusy[1] = 0, 0
					fc.mu.Unlock()
				}()
				_, err := c.Apply(ctx, tbl, []*Operation{upsert(tbl, 1)})
				return err
			},
			want: "giving up after 3 attempts",
			is:   isRPCError,
		},
		{
			name: "row error: the server rejects the row",
			err: func() error {
				fc.mu.Lock()
				fc.rowErrorKey = 7
				fc.mu.Unlock()
				op := tbl.NewInsert()
				if err := op.Set("k", 7); err != nil {
					t.Fatal(err)
				}
				return firstRowError(c, tbl, op)
			},
			want: "operation 0: status 6",
			is: func(err error) bool {
				var se *StatusError
				return errors.As(err, &se) && se.Code == StatusAlreadyPresent
			},
		},
		{
			name: "row error: no range partition covers the row",
			err:  func() error { return firstRowError(rc, rtbl, upsert(rtbl, 100)) },
			want: "operation 0: row is not covered",
			is:   func(err error) bool { return errors.Is(err, ErrNonCoveredRange) },
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.err()
			if err == nil {
				t.Fatal("no error")
			}
			msg := err.Error()
			if n := strings.Count(msg, "kudu:"); n != 1 || !strings.HasPrefix(msg, "kudu: ") {
				t.Errorf("%q names kudu: %d times, want once, at the start", msg, n)
			}
			if !strings.Contains(msg, tc.want) {
				t.Errorf("%q does not say %q", msg, tc.want)
			}
			if !tc.is(err) {
				t.Errorf("%q does not wrap its cause", msg)
			}
		})
	}
}
