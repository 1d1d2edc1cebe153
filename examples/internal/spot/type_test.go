package spot

import "testing"

func TestParseType(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want Type
		ok   bool
	}{
		{"flow", Flow, true}, {"dns", DNS, true}, {"proxy", Proxy, true},
		{"Flow", "", false}, {"", "", false}, {"netflow", "", false},
	} {
		got, err := ParseType(tc.in)
		if got != tc.want || (err == nil) != tc.ok {
			t.Errorf("ParseType(%q) = %q, %v; want %q, ok=%v", tc.in, got, err, tc.want, tc.ok)
		}
	}
}
