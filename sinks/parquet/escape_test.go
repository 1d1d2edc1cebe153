package parquetsink_test

import (
	"fmt"
	"strings"
	"testing"

	parquetsink "github.com/microbatch-go/microbatch/sinks/parquet"
)

// hiveEscaped is the set of characters Hive's FileUtils.escapePathName
// escapes (its charToEscape): 0x00-0x1F, then '"', '#', '%', '\”, '*',
// '/', ':', '=', '?', '\\', 0x7F, '{', '[', ']', '^'. Spark's
// ExternalCatalogUtils.escapePathName has the same list without 0x00.
func hiveEscaped(c byte) bool {
	return c < 0x20 || strings.IndexByte("\"#%'*/:=?\\\x7f{[]^", c) >= 0
}

// Every ASCII character, one at a time, against Hive's list.
func TestEscapePathNameASCII(t *testing.T) {
	n := 0
	for c := range byte(128) {
		want := string(rune(c))
		if hiveEscaped(c) {
			want = fmt.Sprintf("%%%02X", c)
			n++
		}
		if got := parquetsink.EscapePathName(string(rune(c))); got != want {
			t.Errorf("EscapePathName(%q) = %q, want %q", c, got, want)
		}
	}
	if n != 32+15 {
		t.Errorf("%d characters escaped, want 47 (32 control characters and 15 others)", n)
	}
}

func TestEscapePathName(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"", ""},
		{"plain", "plain"},
		{"2024-01-02", "2024-01-02"},
		{"a b", "a b"},       // space is kept (escaped by Spark on Windows only)
		{"a<b>|c", "a<b>|c"}, // so are these
		{"a/b", "a%2Fb"},
		{"k=v", "k%3Dv"},
		{"100%", "100%25"},
		{"%2F", "%252F"}, // escaping is not idempotent, as in Hive
		{"it's", "it%27s"},
		{`say "hi"`, "say %22hi%22"},
		{"#tag", "%23tag"},
		{"a*b?c", "a%2Ab%3Fc"},
		{"12:30:00", "12%3A30%3A00"},
		{`C:\dir`, "C%3A%5Cdir"},
		{"{x}", "%7Bx}"}, // '}' is not in the list, '{' is
		{"[0]", "%5B0%5D"},
		{"a^b", "a%5Eb"},
		{"line\nbreak\ttab\r", "line%0Abreak%09tab%0D"},
		{"\x00\x01\x1f\x7f", "%00%01%1F%7F"},
		{"~!@$&()+,;`|", "~!@$&()+,;`|"},
		{"ünïcødé/日本", "ünïcødé%2F日本"}, // non-ASCII is kept
		{"__HIVE_DEFAULT_PARTITION__", "__HIVE_DEFAULT_PARTITION__"},
	} {
		if got := parquetsink.EscapePathName(tc.in); got != tc.want {
			t.Errorf("EscapePathName(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestPartitionPath(t *testing.T) {
	for _, tc := range []struct {
		cols, vals []string
		want       string
	}{
		{[]string{"day"}, []string{"2024-01-02"}, "day=2024-01-02"},
		{[]string{"day", "hour"}, []string{"2024-01-02", "07"}, "day=2024-01-02/hour=07"},
		{[]string{"region"}, []string{""}, "region=__HIVE_DEFAULT_PARTITION__"},
		{[]string{"a=b", "c/d"}, []string{"x=y", "1/2"}, "a%3Db=x%3Dy/c%2Fd=1%2F2"},
		{[]string{"Mixed"}, []string{"Case"}, "Mixed=Case"}, // names keep their case, as Spark does
	} {
		if got := parquetsink.PartitionPath(tc.cols, tc.vals); got != tc.want {
			t.Errorf("PartitionPath(%q, %q) = %q, want %q", tc.cols, tc.vals, got, tc.want)
		}
	}
}
