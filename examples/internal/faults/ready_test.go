package faults

import (
	"encoding/json"
	"net/http"
	"path/filepath"
	"regexp"
	"testing"
	"time"

	"github.com/microbatch-go/microbatch/internal/proctest"
)

// readyz GETs url's /readyz and returns its status and reasons.
func readyz(t *testing.T, url string) (int, []string) {
	t.Helper()
	resp, err := http.Get(url + "readyz")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var h struct{ Reasons []string }
	if err := json.NewDecoder(resp.Body).Decode(&h); err != nil {
		t.Fatalf("/readyz: %v", err)
	}
	return resp.StatusCode, h.Reasons
}

// waitReady polls /readyz until it answers want, and returns how long
// that took.
func waitReady(t *testing.T, url string, want int, timeout time.Duration, job *proctest.Proc) time.Duration {
	t.Helper()
	start := time.Now()
	for {
		status, reasons := readyz(t, url)
		if status == want {
			return time.Since(start)
		}
		if time.Since(start) > timeout {
			t.Fatalf("/readyz still %d (%v) after %v, want %d\n%s", status, reasons, timeout, want, job.Output())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// /readyz of a running job turns 503 within two batch intervals of its
// broker going away, and 200 again once the broker is back.
func TestReadyFollowsTheBroker(t *testing.T) {
	wordcount := proctest.Build(t, "./examples/wordcount")
	devkafka := proctest.Build(t, "./examples/devkafka")
	const interval = 500 * time.Millisecond
	dir := t.TempDir()
	broker, addr := startBroker(t, devkafka, "127.0.0.1:0", filepath.Join(dir, "kafka"))
	job := proctest.Start(t, wordcount, "-source", "kafka", "-brokers", addr, "-topic", "words", "-group", "g",
		"-batch", interval.String(), "-top", "0", "-ui", "127.0.0.1:0")
	url := job.WaitFor(t, job.Stderr, regexp.MustCompile(`status page at (http://\S+/)`), 30*time.Second)[1]
	waitReady(t, url, http.StatusOK, 30*time.Second, job)
	produceLines(t, addr, 0, 100)

	broker.Stop(t, 10*time.Second)
	took := waitReady(t, url, http.StatusServiceUnavailable, 30*time.Second, job)
	t.Logf("/readyz turned 503 %v after the broker stopped", took)
	if took > 2*interval {
		t.Errorf("/readyz turned 503 %v after the broker stopped, more than two batch intervals (%v)", took, 2*interval)
	}
	_, reasons := readyz(t, url)
	t.Logf("reasons: %v", reasons)

	broker, _ = startBroker(t, devkafka, addr, filepath.Join(dir, "kafka"))
	took = waitReady(t, url, http.StatusOK, 60*time.Second, job)
	t.Logf("/readyz turned 200 %v after the broker restarted", took)
	job.Stop(t, 10*time.Second)
	broker.Stop(t, 10*time.Second)
}
