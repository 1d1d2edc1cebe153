package testtool

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
)

// StatusPageText fetches everything the status page at base (its URL,
// ending in "/") serves to anyone who can reach it: the page and its
// assets, the statistics, the batch list, every retained batch's detail
// and operations, the receivers, /metrics, /healthz and /readyz. It
// returns the bodies, each headed by its path, for a test to search (for
// secrets, say). A request that fails is a test error.
func StatusPageText(t testing.TB, base string) string {
	t.Helper()
	cl := &http.Client{Timeout: 10 * time.Second}
	var b strings.Builder
	get := func(path string) []byte {
		resp, err := cl.Get(base + path)
		if err != nil {
			t.Errorf("GET %s: %v", path, err)
			return nil
		}
		defer resp.Body.Close()
		body, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Errorf("GET %s: %v", path, err)
		}
		fmt.Fprintf(&b, "== %s (%d)\n%s\n", path, resp.StatusCode, body)
		return body
	}
	for _, p := range []string{"", "static/app.js", "api/v1/streaming/statistics", "api/v1/streaming/receivers",
		"metrics", "healthz", "readyz"} {
		get(p)
	}
	var batches []struct {
		BatchTime int64 `json:"batchTime"`
	}
	if err := json.Unmarshal(get("api/v1/streaming/batches"), &batches); err != nil {
		t.Errorf("the batch list: %v", err)
	}
	for _, bt := range batches {
		get(fmt.Sprintf("api/v1/streaming/batches/%d", bt.BatchTime))
		get(fmt.Sprintf("api/v1/streaming/batches/%d/operations", bt.BatchTime))
	}
	return b.String()
}

// NoSecrets fails the test for each secret found in text (logs, progress
// lines, pages), naming where: the line that holds it, with the secret
// itself masked. Empty secrets are ignored.
func NoSecrets(t testing.TB, what, text string, secrets ...string) {
	t.Helper()
	for _, s := range secrets {
		if s == "" {
			continue
		}
		for line := range strings.Lines(text) {
			if strings.Contains(line, s) {
				t.Errorf("%s holds a secret: %s", what, strings.TrimSpace(strings.ReplaceAll(line, s, "<SECRET>")))
			}
		}
	}
}
