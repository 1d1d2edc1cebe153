package main

// Acceptance tests of spot-collector as a program: the binary is built
// once and run as a subprocess against kfake on loopback, with real
// nfcapd files (nfpcapd on a generated capture), pcaps read by tshark,
// and proxy logs; the topic is then read back and every chunk decoded.

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/microbatch-go/microbatch/examples/internal/spot"
	"github.com/microbatch-go/microbatch/internal/kafkatest"
	"github.com/microbatch-go/microbatch/internal/pcapgen"
	"github.com/microbatch-go/microbatch/internal/proctest"
	"github.com/microbatch-go/microbatch/internal/testtool"
)

func TestMain(m *testing.M) { proctest.Main(m) }

// buildCollector builds the command, once per test process.
func buildCollector(t *testing.T) string {
	t.Helper()
	return proctest.Build(t, "./examples/spot-collector")
}

// result is how a run of the binary ended.
type result struct {
	code   int
	stderr string
}

// runCLI runs the collector with args to its end (at most 2 minutes).
func runCLI(t *testing.T, args ...string) result {
	t.Helper()
	_, stderr, code := proctest.Run(t, 2*time.Minute, buildCollector(t), args...)
	t.Logf("spot-collector %s: exit %d\n%s", strings.Join(args, " "), code, stderr)
	return result{code, stderr}
}

// chunk is one consumed message, decoded.
type chunk struct {
	ts    time.Time
	lines []string
	size  int
}

// consume reads the whole topic from the start.
func consume(t *testing.T, c *kafkatest.Cluster, topic string) []chunk {
	t.Helper()
	var out []chunk
	for _, r := range c.ReadAll(topic) {
		if r.Key != nil {
			t.Errorf("record with key %q", r.Key)
		}
		lines, err := spot.DecodeChunk(r.Value)
		if err != nil {
			t.Fatalf("record %d/%d: %v", r.Partition, r.Offset, err)
		}
		out = append(out, chunk{ts: r.Timestamp, lines: lines, size: len(r.Value)})
	}
	return out
}

// checkChunks checks every consumed chunk: within the size budget, of one
// UTC hour, timed by its first line (to the millisecond); and that
// together they hold exactly want, each line once.
func checkChunks(t *testing.T, typ spot.Type, chunks []chunk, maxRequest int, want []string) {
	t.Helper()
	var got []string
	for i, c := range chunks {
		if len(c.lines) == 0 {
			t.Errorf("chunk %d is empty", i)
			continue
		}
		if c.size > spot.ChunkBudget(maxRequest) {
			t.Errorf("chunk %d: %d bytes, more than %d - %d", i, c.size, maxRequest, spot.RequestOverhead)
		}
		first, ok := spot.LineTime(typ, c.lines[0])
		if !ok {
			t.Errorf("chunk %d: first line %q has no time", i, c.lines[0])
		}
		if c.ts.UnixMilli() != first.UnixMilli() {
			t.Errorf("chunk %d: record timestamp %v, its first line's time %v", i, c.ts.UTC(), first)
		}
		for _, l := range c.lines {
			lt, _ := spot.LineTime(typ, l)
			if lt.Truncate(time.Hour) != first.Truncate(time.Hour) {
				t.Errorf("chunk %d mixes hours: %q and %q", i, c.lines[0], l)
			}
		}
		got = append(got, c.lines...)
	}
	seen := map[string]bool{}
	for _, l := range got {
		if seen[l] {
			t.Errorf("line sent twice: %q", l)
		}
		seen[l] = true
	}
	got, want = slices.Sorted(slices.Values(got)), slices.Sorted(slices.Values(want))
	if !slices.Equal(got, want) {
		t.Errorf("the chunks hold %d lines:\n%s\nwant %d:\n%s", len(got), strings.Join(got, "\n"), len(want), strings.Join(want, "\n"))
	}
}

// hashTree returns the SHA-256 of every file under dir, to check that
// captures are left untouched.
func hashTree(t *testing.T, dir string) map[string][32]byte {
	t.Helper()
	out := map[string][32]byte{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		out[p] = sha256.Sum256(b)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func checkUntouched(t *testing.T, dir string, before map[string][32]byte) {
	t.Helper()
	after := hashTree(t, dir)
	if len(after) != len(before) {
		t.Errorf("%s holds %d files, had %d", dir, len(after), len(before))
	}
	for p, h := range before {
		if after[p] != h {
			t.Errorf("capture %s changed or vanished", p)
		}
	}
}

// filesUnder lists the files under dir, relative, with slashes.
func filesUnder(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		out = append(out, filepath.ToSlash(rel))
		return nil
	})
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		t.Fatal(err)
	}
	return out
}

func readLedger(t *testing.T, staging string) []string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(staging, "processed"))
	if err != nil {
		t.Fatal(err)
	}
	return slices.Sorted(slices.Values(strings.Fields(string(b))))
}

// flowPackets is two hours of traffic: 45 TCP sessions from 10:55 to
// 10:59, 35 UDP exchanges from 11:00 to 11:04 and 5 more at 11:31, each
// from its own address so that every flow record is a different line.
func flowPackets() []pcapgen.Packet {
	base := time.Date(2016, 8, 17, 10, 55, 0, 0, time.UTC)
	var ps []pcapgen.Packet
	addr := func(i int) netip.Addr { return netip.AddrFrom4([4]byte{10, 2, byte(i / 200), byte(1 + i%200)}) }
	server := netip.MustParseAddr("198.51.100.10")
	for i := range 45 {
		t := base.Add(time.Duration(i) * 6 * time.Second)
		src, sp := addr(i), uint16(40000+i)
		ps = append(ps,
			pcapgen.Packet{Time: t, Src: src, Dst: server, Proto: pcapgen.ProtoTCP, SrcPort: sp, DstPort: 443, Flags: pcapgen.SYN},
			pcapgen.Packet{Time: t.Add(300 * time.Millisecond), Src: src, Dst: server, Proto: pcapgen.ProtoTCP, SrcPort: sp, DstPort: 443, Flags: pcapgen.ACK | pcapgen.PSH, Payload: make([]byte, 100+i)},
			pcapgen.Packet{Time: t.Add(900 * time.Millisecond), Src: src, Dst: server, Proto: pcapgen.ProtoTCP, SrcPort: sp, DstPort: 443, Flags: pcapgen.ACK | pcapgen.FIN})
	}
	dns := netip.MustParseAddr("10.0.0.53")
	for i := range 40 {
		t := base.Add(5*time.Minute + 5*time.Second + time.Duration(i)*7*time.Second)
		if i >= 35 {
			t = base.Add(36*time.Minute + time.Duration(i)*time.Second)
		}
		src := addr(100 + i)
		ps = append(ps,
			pcapgen.Packet{Time: t, Src: src, Dst: dns, Proto: pcapgen.ProtoUDP, SrcPort: uint16(50000 + i), DstPort: 53, Payload: make([]byte, 30)},
			pcapgen.Packet{Time: t.Add(20 * time.Millisecond), Src: dns, Dst: src, Proto: pcapgen.ProtoUDP, SrcPort: 53, DstPort: uint16(50000 + i), Payload: make([]byte, 90)})
	}
	sort.SliceStable(ps, func(i, j int) bool { return ps[i].Time.Before(ps[j].Time) })
	return ps
}

func writePcap(t *testing.T, path string, ps []pcapgen.Packet) {
	t.Helper()
	if err := pcapgen.WriteFile(path, ps); err != nil {
		t.Fatal(err)
	}
}

// The flow pipeline end to end: nfpcapd turns a two-hour capture into
// nfcapd files, the collector converts them with nfdump and publishes
// them; the chunks hold exactly the flow records, each once, hour by
// hour, timed by their first line. nfcapd's in-progress file is not
// read, and the captures are left as they were.
func TestCLIFlow(t *testing.T) {
	nfpcapd := testtool.Require(t, "nfpcapd", "Debian package nfdump")
	nfdump := testtool.Require(t, "nfdump", "Debian package nfdump")
	dir := t.TempDir()
	pcap := filepath.Join(dir, "traffic.pcap")
	writePcap(t, pcap, flowPackets())
	watch := filepath.Join(dir, "nfcapd")
	if err := os.Mkdir(watch, 0o755); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(nfpcapd, "-r", pcap, "-w", watch)
	cmd.Env = append(os.Environ(), "TZ=UTC")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("nfpcapd: %v\n%s", err, out)
	}
	files, err := filepath.Glob(filepath.Join(watch, "nfcapd.*"))
	if err != nil || len(files) < 2 {
		t.Fatalf("nfpcapd wrote %q (%v)", files, err)
	}
	// The expected lines: each file through nfdump and the converter.
	var want []string
	var names []string
	for _, f := range files {
		cmd := exec.Command(nfdump, "-r", f, "-o", "csv")
		cmd.Env = append(os.Environ(), "TZ=UTC")
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("nfdump -r %s: %v", f, err)
		}
		var conv bytes.Buffer
		if _, err := spot.ConvertNfdumpCSV(bytes.NewReader(out), &conv); err != nil {
			t.Fatal(err)
		}
		for _, l := range strings.Split(conv.String(), "\n") {
			if _, ok := spot.LineTime(spot.Flow, l); ok {
				want = append(want, l)
			}
		}
		names = append(names, filepath.Base(f))
	}
	if len(want) != 125 {
		t.Fatalf("nfdump lists %d flows, want 125 (45 TCP sessions, 40 UDP queries and their answers)", len(want))
	}
	// nfcapd's file in progress, a copy of a finished one: never read.
	b, err := os.ReadFile(files[0])
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(watch, "nfcapd.current.123"), b, 0o644); err != nil {
		t.Fatal(err)
	}
	before := hashTree(t, watch)

	for _, tc := range []struct {
		name       string
		maxRequest int
	}{{"default size", 1048576}, {"small requests", 2048}} {
		t.Run(tc.name, func(t *testing.T) {
			c := kafkatest.New(t, map[string]int32{"spot-flow": 3})
			staging := filepath.Join(t.TempDir(), "staging")
			r := runCLI(t, "-type", "flow", "-watch", watch, "-staging", staging, "-brokers", c.Addrs[0],
				"-once", "-max-request-bytes", fmt.Sprint(tc.maxRequest), "-nfdump", nfdump)
			if r.code != 0 {
				t.Fatalf("exit %d", r.code)
			}
			chunks := consume(t, c, "spot-flow")
			checkChunks(t, spot.Flow, chunks, tc.maxRequest, want)
			perHour := map[int]int{}
			for _, ch := range chunks {
				perHour[ch.ts.UTC().Hour()]++
			}
			if tc.maxRequest == 2048 && (perHour[10] < 2 || perHour[11] < 2) {
				t.Errorf("chunks per hour %v: want several in each at 2048-byte requests", perHour)
			}
			if got := readLedger(t, staging); !slices.Equal(got, names) {
				t.Errorf("ledger %q, want %q", got, names)
			}
			if left := filesUnder(t, filepath.Join(staging, "csv")); len(left) > 0 {
				t.Errorf("staged files left: %q", left)
			}
			if left := filesUnder(t, filepath.Join(staging, "failed")); len(left) > 0 {
				t.Errorf("kept chunks: %q", left)
			}
			if !strings.Contains(r.stderr, "msg=summary") || !strings.Contains(r.stderr, fmt.Sprintf("chunks_sent=%d", len(chunks))) {
				t.Errorf("no summary with chunks_sent=%d:\n%s", len(chunks), r.stderr)
			}
			checkUntouched(t, watch, before)

			// A second run finds nothing to do.
			r = runCLI(t, "-type", "flow", "-watch", watch, "-staging", staging, "-brokers", c.Addrs[0], "-once", "-nfdump", nfdump)
			if r.code != 0 {
				t.Fatalf("second run: exit %d", r.code)
			}
			if n := len(consume(t, c, "spot-flow")); n != len(chunks) {
				t.Errorf("the second run sent %d more chunks", n-len(chunks))
			}
		})
	}
}

// dnsResponse is a DNS response for name with one A record.
func dnsResponse(id uint16, name string, a [4]byte) []byte {
	b := make([]byte, 12, 64)
	binary.BigEndian.PutUint16(b[0:], id)
	binary.BigEndian.PutUint16(b[2:], 0x8180) // response, recursion desired and available
	binary.BigEndian.PutUint16(b[4:], 1)
	binary.BigEndian.PutUint16(b[6:], 1)
	for _, label := range strings.Split(name, ".") {
		b = append(b, byte(len(label)))
		b = append(b, label...)
	}
	b = append(b, 0, 0, 1, 0, 1)                           // type A, class IN
	b = append(b, 0xc0, 12, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4) // the answer, name by pointer
	return append(b, a[:]...)
}

// The dns pipeline: tshark reads the responses of a pcap (not the
// queries) and the chunks are cut by the UTC hour of frame.time_epoch.
func TestCLIDNS(t *testing.T) {
	tshark := testtool.Require(t, "tshark", "Debian package tshark")
	watch := t.TempDir()
	resolver, client := netip.MustParseAddr("10.0.0.53"), netip.MustParseAddr("10.1.1.23")
	type answer struct {
		epoch string
		name  string
	}
	var ps []pcapgen.Packet
	var want []answer
	base := time.Date(2016, 8, 7, 10, 58, 3, 124456000, time.UTC)
	for i := range 12 {
		at := base.Add(time.Duration(i) * 17 * time.Minute / 2) // 10:58 to 12:31
		name := fmt.Sprintf("host%d.example.com", i)
		ps = append(ps,
			pcapgen.Packet{Time: at, Src: client, Dst: resolver, Proto: pcapgen.ProtoUDP, SrcPort: 5353, DstPort: 53, Payload: []byte("query")},
			pcapgen.Packet{Time: at.Add(time.Millisecond), Src: resolver, Dst: client, Proto: pcapgen.ProtoUDP, SrcPort: 53, DstPort: 5353, Payload: dnsResponse(uint16(i), name, [4]byte{192, 0, 2, byte(i)})})
		ts := at.Add(time.Millisecond)
		want = append(want, answer{fmt.Sprintf("%d.%09d", ts.Unix(), ts.Nanosecond()), name})
	}
	writePcap(t, filepath.Join(watch, "dns-0001.pcap"), ps)
	if err := os.WriteFile(filepath.Join(watch, "notes.txt"), []byte("not a capture\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	before := hashTree(t, watch)
	c := kafkatest.New(t, map[string]int32{"spot-dns": 1})
	staging := t.TempDir()
	r := runCLI(t, "-type", "dns", "-watch", watch, "-staging", staging, "-brokers", c.Addrs[0], "-once", "-tshark", tshark)
	if r.code != 0 {
		t.Fatalf("exit %d", r.code)
	}
	chunks := consume(t, c, "spot-dns")
	var got []answer
	var lines []string
	for _, ch := range chunks {
		for _, l := range ch.lines {
			f := strings.Split(l, ",")
			if len(f) != 11 {
				t.Fatalf("line %q: %d fields, want 11 (frame.time holds a comma)", l, len(f))
			}
			got = append(got, answer{f[2], f[6]})
		}
		lines = append(lines, ch.lines...)
	}
	checkChunks(t, spot.DNS, chunks, 1048576, lines) // the chunks' own checks
	if !slices.Equal(got, want) {
		t.Errorf("responses (epoch, name) %v\nwant %v", got, want)
	}
	if len(chunks) != 3 {
		t.Errorf("%d chunks, want 3 (hours 10, 11, 12)", len(chunks))
	}
	if got := readLedger(t, staging); !slices.Equal(got, []string{"dns-0001.pcap"}) {
		t.Errorf("ledger %q", got)
	}
	checkUntouched(t, watch, before)
}

// proxyLog is a Bluecoat log of n lines from start, one a minute, with
// its comment header; it returns the text and the lines with a time.
func proxyLog(start time.Time, n int, host string) (string, []string) {
	var sb strings.Builder
	sb.WriteString("#Software: SGOS 6.5.4.4\n#Fields: date time time-taken c-ip cs-username ...\n")
	var lines []string
	for i := range n {
		at := start.Add(time.Duration(i) * time.Minute)
		l := fmt.Sprintf(`%s %d 10.1.%d.%d - - - OBSERVED "Technology/Internet" - 200 TCP_NC_MISS GET text/html http %s 80 /path/%d ?q=%d - "Mozilla/5.0 (X11; Linux x86_64)" 192.0.2.%d %d %d - "none" "none"`,
			at.Format(time.DateTime), 10+i, i/250, 1+i%250, host, i, i, 1+i%250, 1000+i, 300+i)
		sb.WriteString(l + "\n")
		lines = append(lines, l)
	}
	return sb.String(), lines
}

// The proxy pipeline: logs are taken as they are, in subdirectories too.
func TestCLIProxy(t *testing.T) {
	watch := t.TempDir()
	a, wantA := proxyLog(time.Date(2016, 8, 17, 10, 30, 0, 0, time.UTC), 90, "www.example.com")
	b, wantB := proxyLog(time.Date(2016, 8, 17, 23, 45, 0, 0, time.UTC), 30, "news.example.org")
	if err := os.MkdirAll(filepath.Join(watch, "site2"), 0o755); err != nil {
		t.Fatal(err)
	}
	for p, text := range map[string]string{"a.log": a, "site2/b.log": b, "c.log.gz": a} {
		if err := os.WriteFile(filepath.Join(watch, p), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	c := kafkatest.New(t, map[string]int32{"bluecoat": 2})
	staging := t.TempDir()
	r := runCLI(t, "-type", "proxy", "-watch", watch, "-staging", staging, "-brokers", c.Addrs[0], "-topic", "bluecoat",
		"-once", "-max-request-bytes", "4096", "-workers", "3")
	if r.code != 0 {
		t.Fatalf("exit %d", r.code)
	}
	chunks := consume(t, c, "bluecoat")
	checkChunks(t, spot.Proxy, chunks, 4096, append(wantA, wantB...))
	if got := readLedger(t, staging); !slices.Equal(got, []string{"a.log", "site2/b.log"}) {
		t.Errorf("ledger %q", got)
	}
	if !strings.Contains(r.stderr, "lines_skipped=2") {
		t.Errorf("the comment lines are not reported as skipped:\n%s", r.stderr)
	}
}

// closedPort returns a loopback address nothing listens on.
func closedPort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}

// With the broker down every chunk is kept in staging and the run fails,
// saying how to send them; once the broker is up, a -skip-conversion run
// sends each kept chunk exactly once, and a third run sends nothing.
func TestCLIBrokerDown(t *testing.T) {
	watch := t.TempDir()
	a, wantA := proxyLog(time.Date(2016, 8, 17, 10, 0, 0, 0, time.UTC), 150, "www.example.com")
	b, wantB := proxyLog(time.Date(2016, 8, 17, 12, 50, 0, 0, time.UTC), 40, "news.example.org")
	for p, text := range map[string]string{"proxy.2016-08-17.10.log": a, "proxy.2016-08-17.12.log": b} {
		if err := os.WriteFile(filepath.Join(watch, p), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	before := hashTree(t, watch)
	staging := filepath.Join(t.TempDir(), "staging")
	args := []string{"-type", "proxy", "-watch", watch, "-staging", staging, "-once", "-max-request-bytes", "4096", "-send-timeout", "1s"}

	start := time.Now()
	r := runCLI(t, append(args, "-brokers", closedPort(t))...)
	if r.code != 1 {
		t.Fatalf("exit %d with the broker down, want 1", r.code)
	}
	if took := time.Since(start); took > 20*time.Second {
		t.Errorf("the run took %v: a dead broker should cost one -send-timeout per capture", took)
	}
	failedDir := filepath.Join(staging, "failed")
	if !strings.Contains(r.stderr, failedDir) || !strings.Contains(r.stderr, "-skip-conversion") {
		t.Errorf("the error does not name %s and -skip-conversion:\n%s", failedDir, r.stderr)
	}
	kept := filesUnder(t, failedDir)
	var keptLines []string
	for _, k := range kept {
		if !strings.HasPrefix(k, "proxy_2016-08-17_10_log_segment-") && !strings.HasPrefix(k, "proxy_2016-08-17_12_log_segment-") {
			t.Errorf("kept chunk %q is not named as Spot names it", k)
		}
		lines, err := readLines(filepath.Join(failedDir, k))
		if err != nil {
			t.Fatal(err)
		}
		keptLines = append(keptLines, lines...)
	}
	want := append(wantA, wantB...)
	if !slices.Equal(slices.Sorted(slices.Values(keptLines)), slices.Sorted(slices.Values(want))) {
		t.Errorf("failed/ holds %d lines, want the %d of the logs", len(keptLines), len(want))
	}
	if len(kept) < 4 {
		t.Errorf("%d chunks kept, want at least 4 (three hours, 4096-byte requests)", len(kept))
	}
	if got := readLedger(t, staging); len(got) != 2 {
		t.Errorf("ledger %q: both logs are handled (their chunks kept)", got)
	}
	checkUntouched(t, watch, before)

	c := kafkatest.New(t, map[string]int32{"spot-proxy": 2})
	r = runCLI(t, append(args, "-brokers", c.Addrs[0], "-skip-conversion")...)
	if r.code != 0 {
		t.Fatalf("exit %d once the broker is up", r.code)
	}
	chunks := consume(t, c, "spot-proxy")
	if len(chunks) != len(kept) {
		t.Errorf("%d chunks sent, %d were kept", len(chunks), len(kept))
	}
	checkChunks(t, spot.Proxy, chunks, 4096, want)
	if left := filesUnder(t, failedDir); len(left) > 0 {
		t.Errorf("still kept: %q", left)
	}

	r = runCLI(t, append(args, "-brokers", c.Addrs[0])...)
	if r.code != 0 {
		t.Fatalf("third run: exit %d", r.code)
	}
	if n := len(consume(t, c, "spot-proxy")); n != len(chunks) {
		t.Errorf("the third run sent %d chunks", n-len(chunks))
	}
	checkUntouched(t, watch, before)
}

// A topic that does not exist fails the chunk like a dead broker.
func TestCLIUnknownTopic(t *testing.T) {
	watch := t.TempDir()
	text, _ := proxyLog(time.Date(2016, 8, 17, 10, 0, 0, 0, time.UTC), 5, "www.example.com")
	if err := os.WriteFile(filepath.Join(watch, "a.log"), []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	c := kafkatest.New(t, map[string]int32{"spot-proxy": 1})
	staging := t.TempDir()
	r := runCLI(t, "-type", "proxy", "-watch", watch, "-staging", staging, "-brokers", c.Addrs[0], "-topic", "nope", "-once", "-send-timeout", "2s")
	if r.code != 1 {
		t.Fatalf("exit %d, want 1", r.code)
	}
	if kept := filesUnder(t, filepath.Join(staging, "failed")); !slices.Equal(kept, []string{"a_log_segment-0.csv"}) {
		t.Errorf("kept %q", kept)
	}
}

// Without -once the collector watches: a log moved in later is published,
// and SIGTERM stops it cleanly.
func TestCLIWatch(t *testing.T) {
	watch := t.TempDir()
	c := kafkatest.New(t, map[string]int32{"spot-proxy": 1})
	staging := t.TempDir()
	cmd := exec.Command(buildCollector(t), "-type", "proxy", "-watch", watch, "-staging", staging, "-brokers", c.Addrs[0], "-interval", "50ms")
	stderr := new(testtool.Buffer)
	cmd.Stderr = stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{}) // closed when it has exited; waitErr is then set
	var waitErr error
	go func() {
		waitErr = cmd.Wait()
		close(done)
	}()
	t.Cleanup(func() {
		select {
		case <-done:
		default:
			cmd.Process.Kill()
			<-done
		}
	})
	text, want := proxyLog(time.Date(2016, 8, 17, 10, 0, 0, 0, time.UTC), 20, "www.example.com")
	tmp := filepath.Join(watch, "incoming.tmp")
	if err := os.WriteFile(tmp, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, filepath.Join(watch, "late.log")); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for !strings.Contains(stderr.String(), "capture=late.log") || !strings.Contains(stderr.String(), "capture done") {
		if time.Now().After(deadline) {
			t.Fatalf("late.log not published:\n%s", stderr.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case <-done:
		if waitErr != nil {
			t.Fatalf("exit after SIGTERM: %v\n%s", waitErr, stderr.String())
		}
	case <-time.After(30 * time.Second):
		t.Fatalf("still running 30 s after SIGTERM")
	}
	checkChunks(t, spot.Proxy, consume(t, c, "spot-proxy"), 1048576, want)
	if !strings.Contains(stderr.String(), "msg=summary") {
		t.Errorf("no summary:\n%s", stderr.String())
	}
}

// A usage error exits with status 2 and says what is wrong.
func TestCLIUsage(t *testing.T) {
	r := runCLI(t, "-type", "netflow", "-watch", t.TempDir(), "-staging", t.TempDir())
	if r.code != 2 || !strings.Contains(r.stderr, `-type: unknown type "netflow"`) {
		t.Errorf("exit %d, stderr %q; want 2 and the error", r.code, r.stderr)
	}
	r = runCLI(t, "-h")
	if r.code != 0 || !strings.Contains(r.stderr, "-max-request-bytes") {
		t.Errorf("-h: exit %d, stderr %q", r.code, r.stderr)
	}
}
