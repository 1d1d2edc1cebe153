package dstream

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"time"

	"github.com/microbatch-go/microbatch/storage"
)

// The lock of a checkpoint directory. Start creates the file "lock" there
// exclusively (storage.CreateExclusive) before it reads the checkpoint;
// while the context runs it rewrites the file every quarter of the lock
// timeout with a new heartbeat, after checking that the lock is still its
// own; the end of the stop removes it if it is still its own. A lock
// whose holder is gone is taken over: its process is not running on this
// host, or its heartbeat is older than the lock timeout.

const (
	// lockName is the lock file's name in the checkpoint directory; it
	// matches neither metaPrefix nor statePrefix.
	lockName = "lock"

	// DefaultCheckpointLockTimeout is how old the heartbeat of a
	// checkpoint directory's lock must be for another job to take the
	// lock over (see WithCheckpointLockTimeout).
	DefaultCheckpointLockTimeout = 60 * time.Second
)

// WithCheckpointLockTimeout sets the lock timeout of the checkpoint
// directory: a job holding the directory's lock refreshes its heartbeat
// every timeout/4, and a lock whose heartbeat is older than the timeout
// (or, on the same host, whose process is not running) is taken over by
// the next job that starts there. A job that cannot refresh its heartbeat
// for the whole timeout stops. The hosts sharing a directory must have
// clocks that agree to well within the timeout. Default:
// DefaultCheckpointLockTimeout (60 s).
func WithCheckpointLockTimeout(d time.Duration) Option {
	return optionFunc(func(c *config) error {
		if d <= 0 {
			return fmt.Errorf("%w: checkpoint lock timeout %v must be positive", ErrInvalidDuration, d)
		}
		c.ckptLockTimeout = d
		return nil
	})
}

// CheckpointLockedError is the error of a Start on a checkpoint directory
// that another job holds, and of a running job whose lock another job
// took over. It wraps ErrCheckpointLocked.
type CheckpointLockedError struct {
	Dir       string    // the checkpoint directory, as given to WithCheckpoint
	Host      string    // the holder's host name
	PID       int       // the holder's process id on its host
	Since     time.Time // when the holder took the lock
	Heartbeat time.Time // the holder's latest heartbeat
}

// Error returns one line naming the directory and its holder.
func (e *CheckpointLockedError) Error() string {
	return fmt.Sprintf("dstream: checkpoint directory %s is in use by host %s pid %d since %s (another job, or a copy of this one, is running on it)",
		e.Dir, e.Host, e.PID, e.Since.UTC().Format(time.RFC3339))
}

// Unwrap returns ErrCheckpointLocked.
func (e *CheckpointLockedError) Unwrap() error { return ErrCheckpointLocked }

// lockInfo is the content of a lock file.
type lockInfo struct {
	Host      string    `json:"host"`
	PID       int       `json:"pid"`
	Since     time.Time `json:"since"`
	Owner     string    `json:"owner"` // random, for each lock taken
	Heartbeat time.Time `json:"heartbeat"`
}

// parseLock decodes a lock file.
func parseLock(raw []byte) (lockInfo, error) {
	var l lockInfo
	if err := json.Unmarshal(raw, &l); err != nil {
		return l, err
	}
	if l.Owner == "" || l.PID <= 0 || l.Since.IsZero() || l.Heartbeat.IsZero() {
		return l, errors.New("missing fields")
	}
	return l, nil
}

// dirLock is a lock this context holds.
type dirLock struct {
	k    *checkpointer
	me   lockInfo
	done chan struct{} // closed when the heartbeat ends; nil before it starts
}

func (k *checkpointer) lockPath() string { return k.dir + "/" + lockName }

// lockedBy returns the error of a lock held by l.
func (k *checkpointer) lockedBy(l lockInfo) *CheckpointLockedError {
	return &CheckpointLockedError{Dir: k.c.cfg.ckptURI, Host: l.Host, PID: l.PID, Since: l.Since, Heartbeat: l.Heartbeat}
}

// readLock returns the raw content of the lock file.
func (k *checkpointer) readLock(ctx context.Context) ([]byte, error) {
	r, err := k.fsys.Open(ctx, k.lockPath())
	if err != nil {
		return nil, err
	}
	defer r.Close()
	return io.ReadAll(r)
}

// acquireLock takes the directory's lock, or returns why it cannot. An
// FS that cannot create files exclusively runs without a lock, with a
// warning.
func (k *checkpointer) acquireLock(ctx context.Context) error {
	c := k.c
	dir := c.cfg.ckptURI
	host, _ := os.Hostname()
	now := time.Now()
	me := lockInfo{Host: host, PID: os.Getpid(), Since: now, Owner: rand.Text(), Heartbeat: now}
	for range 3 {
		w, err := storage.CreateExclusive(ctx, k.fsys, k.lockPath())
		switch {
		case errors.Is(err, errors.ErrUnsupported):
			c.log.Warn("dstream: the checkpoint directory's storage cannot create a file exclusively, so the directory is not locked: make sure that no other job runs on it",
				"dir", dir, "error", err)
			return nil
		case err == nil:
			return k.completeLock(ctx, w, me)
		case !errors.Is(err, fs.ErrExist):
			// Unreachable or unwritable: a dependency missing at start.
			return &StartError{Check: "checkpoint directory " + dir, Err: err}
		}
		raw, err := k.readLock(ctx)
		if errors.Is(err, fs.ErrNotExist) {
			continue // released meanwhile
		}
		if err != nil {
			return &StartError{Check: "checkpoint directory " + dir, Err: fmt.Errorf("reading its lock: %w", err)}
		}
		stale, why, err := k.staleLock(ctx, raw, me)
		if err != nil {
			return err
		}
		if !stale {
			continue // gone meanwhile
		}
		// Remove the lock only if it is still the one found stale, so that
		// one taken over by another job meanwhile is left alone.
		again, err := k.readLock(ctx)
		if err != nil || !bytes.Equal(again, raw) {
			continue
		}
		c.log.Warn("dstream: taking over the lock of the checkpoint directory from a job that is gone", append([]any{"dir", dir, "reason", why}, holderAttrs(raw)...)...)
		if err := k.fsys.Remove(ctx, k.lockPath()); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("dstream: removing the stale lock of checkpoint directory %s: %w", dir, err)
		}
	}
	return fmt.Errorf("%w: checkpoint directory %s: its lock file kept changing while this job tried to take it; another job may be starting on it", ErrCheckpointLocked, dir)
}

// holderAttrs returns log attributes describing a lock file's holder.
func holderAttrs(raw []byte) []any {
	l, err := parseLock(raw)
	if err != nil {
		return []any{"lock", string(raw)}
	}
	return []any{"host", l.Host, "pid", l.PID, "since", l.Since, "heartbeat", l.Heartbeat}
}

// staleLock decides whether the lock file holding raw belongs to a job
// that is gone, and says why. It returns the error refusing the lock
// when it is not stale, and stale false with no error when the file
// disappeared meanwhile.
func (k *checkpointer) staleLock(ctx context.Context, raw []byte, me lockInfo) (stale bool, why string, err error) {
	timeout := k.c.cfg.ckptLockTimeout
	dir := k.c.cfg.ckptURI
	l, perr := parseLock(raw)
	if perr != nil {
		fi, err := k.fsys.Stat(ctx, k.lockPath())
		if errors.Is(err, fs.ErrNotExist) {
			return false, "", nil
		}
		if err != nil {
			return false, "", fmt.Errorf("dstream: reading the lock of checkpoint directory %s: %w", dir, err)
		}
		if age := time.Since(fi.ModTime); age > timeout {
			return true, fmt.Sprintf("its lock file cannot be read (%v) and is %v old, over the lock timeout %v", perr, age.Round(time.Second), timeout), nil
		}
		return false, "", fmt.Errorf("%w: checkpoint directory %s has a lock file that cannot be read (%v), written %v ago: another job may be starting on it; if none is, remove %s",
			ErrCheckpointLocked, dir, perr, time.Since(fi.ModTime).Round(time.Millisecond), storage.Join(dir, lockName))
	}
	if me.Host != "" && l.Host == me.Host {
		switch {
		case l.PID == me.PID:
			// Only the active context of a process holds a lock, and that
			// is this one: the lock is left by an earlier process that had
			// this pid (a restarted container, say).
			return true, "it was taken by an earlier process with this process's pid on this host", nil
		case processGone(l.PID):
			return true, "its process is not running on this host", nil
		}
	}
	if age := time.Since(l.Heartbeat); age > timeout {
		return true, fmt.Sprintf("its heartbeat is %v old, over the lock timeout %v", age.Round(time.Second), timeout), nil
	}
	return false, "", k.lockedBy(l)
}

// completeLock writes this job's lock into w, a lock file just created,
// and checks that it holds it.
func (k *checkpointer) completeLock(ctx context.Context, w io.WriteCloser, me lockInfo) error {
	dir := k.c.cfg.ckptURI
	data, err := json.Marshal(me)
	if err == nil {
		_, err = w.Write(data)
	}
	if s, ok := w.(interface{ Sync() error }); ok && err == nil {
		err = s.Sync()
	}
	if cerr := w.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		if rerr := k.fsys.Remove(context.WithoutCancel(ctx), k.lockPath()); rerr != nil && !errors.Is(rerr, fs.ErrNotExist) {
			err = errors.Join(err, fmt.Errorf("removing it: %w", rerr))
		}
		return fmt.Errorf("dstream: writing the lock of checkpoint directory %s: %w", dir, err)
	}
	raw, err := k.readLock(ctx)
	if err != nil {
		return fmt.Errorf("dstream: reading back the lock of checkpoint directory %s: %w", dir, err)
	}
	if got, err := parseLock(raw); err != nil || got.Owner != me.Owner {
		if err != nil {
			return fmt.Errorf("%w: checkpoint directory %s: its lock file changed right after this job created it (%v); another job may be starting on it", ErrCheckpointLocked, dir, err)
		}
		return k.lockedBy(got)
	}
	k.lock = &dirLock{k: k, me: me}
	return nil
}

// startHeartbeat refreshes the lock, if one is held, until ctx is done.
func (k *checkpointer) startHeartbeat(ctx context.Context) {
	if l := k.lock; l != nil {
		l.done = make(chan struct{})
		go l.heartbeat(ctx)
	}
}

// heartbeat rewrites the lock file every timeout/4 with a new heartbeat.
// It fails the context when the lock is no longer this job's, or when it
// could not be refreshed for the whole timeout.
func (l *dirLock) heartbeat(ctx context.Context) {
	defer close(l.done)
	c := l.k.c
	timeout := c.cfg.ckptLockTimeout
	tick := time.NewTicker(max(timeout/4, time.Millisecond))
	defer tick.Stop()
	refreshed := time.Now()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		err := l.refresh(ctx)
		switch {
		case err == nil:
			refreshed = time.Now()
			continue
		case ctx.Err() != nil:
			return
		case errors.Is(err, ErrCheckpointLocked):
			c.fail(err)
			return
		case time.Since(refreshed) >= timeout:
			c.fail(fmt.Errorf("dstream: the lock of checkpoint directory %s could not be refreshed for %v, the lock timeout, so another job may take it over; this job stops: %w",
				c.cfg.ckptURI, timeout, err))
			return
		}
		c.log.Warn("dstream: refreshing the checkpoint directory's lock failed; retrying", "dir", c.cfg.ckptURI, "error", err)
	}
}

// refresh checks that the lock is still this job's and writes a new
// heartbeat. A lock that is no longer this job's is an error wrapping
// ErrCheckpointLocked.
func (l *dirLock) refresh(ctx context.Context) error {
	k := l.k
	dir := k.c.cfg.ckptURI
	raw, err := k.readLock(ctx)
	if errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("%w: the lock file of checkpoint directory %s was removed while this job held it; it stops, since another job may have written there", ErrCheckpointLocked, dir)
	}
	if err != nil {
		return err
	}
	cur, err := parseLock(raw)
	if err != nil {
		return fmt.Errorf("%w: the lock file of checkpoint directory %s was replaced by one that cannot be read (%v); this job stops", ErrCheckpointLocked, dir, err)
	}
	if cur.Owner != l.me.Owner {
		return fmt.Errorf("%w; it took over this job's lock, so this job stops", k.lockedBy(cur))
	}
	l.me.Heartbeat = time.Now()
	data, err := json.Marshal(l.me)
	if err != nil {
		return err
	}
	return storage.WriteFileAtomic(ctx, k.fsys, k.lockPath(), func(w io.Writer) error {
		_, err := w.Write(data)
		return err
	})
}

// releaseLock removes the lock, if this context holds it, once its
// heartbeat has ended. A lock that another job took over is left alone.
func (k *checkpointer) releaseLock() {
	l := k.lock
	if l == nil {
		return
	}
	k.lock = nil
	if l.done != nil {
		<-l.done
	}
	ctx := context.Background()
	dir := k.c.cfg.ckptURI
	raw, err := k.readLock(ctx)
	if err != nil {
		if !errors.Is(err, fs.ErrNotExist) {
			k.c.log.Warn("dstream: reading the checkpoint directory's lock to release it failed; it is left", "dir", dir, "error", err)
		}
		return
	}
	if cur, err := parseLock(raw); err != nil || cur.Owner != l.me.Owner {
		k.c.log.Warn("dstream: the checkpoint directory's lock is no longer this job's; it is left", append([]any{"dir", dir}, holderAttrs(raw)...)...)
		return
	}
	if err := k.fsys.Remove(ctx, k.lockPath()); err != nil && !errors.Is(err, fs.ErrNotExist) {
		k.c.log.Warn("dstream: removing the checkpoint directory's lock failed", "dir", dir, "error", err)
	}
}
