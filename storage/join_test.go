package storage

import "testing"

func TestJoin(t *testing.T) {
	for _, tc := range []struct{ dir, name, want string }{
		{"/data/out", "dead", "/data/out/dead"},
		{"/data/out/", "dead", "/data/out/dead"},
		{"out", "a/b", "out/a/b"},
		{"", "dead", "dead"},
		{"file:///data/out", "dead", "file:///data/out/dead"},
		{"hdfs://nn:8020/user/spot?user=spot", "dead", "hdfs://nn:8020/user/spot/dead?user=spot"},
		{"hdfs://nn:8020/user/spot/?user=spot#x", "dead", "hdfs://nn:8020/user/spot/dead?user=spot#x"},
		{"hdfs://nn:8020", "dead", "hdfs://nn:8020/dead"},
		{"hdfs://nn:8020/a", "b c?d", "hdfs://nn:8020/a/b%20c%3Fd"},
		{"hdfs://nn1:8020,nn2:8020/iot/", "dead", "hdfs://nn1:8020,nn2:8020/iot/dead"},
		{"/odd?dir", "dead", "/odd?dir/dead"}, // a plain path has no query
	} {
		if got := Join(tc.dir, tc.name); got != tc.want {
			t.Errorf("Join(%q, %q) = %q, want %q", tc.dir, tc.name, got, tc.want)
		}
	}
	// What Open makes of a joined URI: the path inside, the query kept.
	_, p, err := Open(Join("file:///data/out?x=1", "dead"))
	if err != nil || p != "/data/out/dead" {
		t.Errorf("Open(Join(file URI)) = %q, %v", p, err)
	}
}
