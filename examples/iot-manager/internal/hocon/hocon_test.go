package hocon

import (
	"errors"
	"maps"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"unicode/utf8"
)

func values(c *Config) map[string]string {
	out := map[string]string{}
	for _, k := range c.Keys() {
		out[k], _ = c.Get(k)
	}
	return out
}

func TestParse(t *testing.T) {
	env := map[string]string{"HOST": "h1", "EMPTY": ""}
	lookup := func(k string) (string, bool) { v, ok := env[k]; return v, ok }
	for _, tc := range []struct {
		name, in string
		want     map[string]string
	}{
		{"equals and colon", "a = 1\nb: two\nc=\"three\"", map[string]string{"a": "1", "b": "two", "c": "three"}},
		{"nested blocks", "a {\n b { c = 1 }\n d = x\n}", map[string]string{"a.b.c": "1", "a.d": "x"}},
		{"block with separator", "a = { b = 1 }\nc : { d : 2 }", map[string]string{"a.b": "1", "c.d": "2"}},
		{"dotted keys", "a.b.c = 1\na.b.d = 2", map[string]string{"a.b.c": "1", "a.b.d": "2"}},
		{"quoted key segments", `"a.b".c = 1` + "\n" + `x."y z" = 2`, map[string]string{"a.b.c": "1", "x.y z": "2"}},
		{"root braces", "{\n a = 1\n}\n", map[string]string{"a": "1"}},
		{"comments", "# c1\na = 1 # c2\n// c3\nb = 2 // c4\nc = \"#not a comment\"", map[string]string{"a": "1", "b": "2", "c": "#not a comment"}},
		{"commas", "a = 1, b = 2\nc { d = 3, e = 4 }", map[string]string{"a": "1", "b": "2", "c.d": "3", "c.e": "4"}},
		{"unquoted with spaces and colons", "a = localhost:9092 , b = Corso Francia  \nc = hdfs://nn:8020/x", map[string]string{"a": "localhost:9092", "b": "Corso Francia", "c": "hdfs:"}},
		{"escapes", `a = "tab\there \"q\" \u00e9 \ud83d\ude00 \/"`, map[string]string{"a": "tab\there \"q\" é 😀 /"}},
		{"triple quotes", "a = \"\"\"line1\n\"line2\"\"\"\"", map[string]string{"a": "line1\n\"line2\""}},
		{"numbers and booleans", "a = 8\nb = 1.5e3\nc = true", map[string]string{"a": "8", "b": "1.5e3", "c": "true"}},
		{"later wins, objects merge", "a { b = 1, c = 2 }\na { b = 3 }\nd = 1\nd = 2", map[string]string{"a.b": "3", "a.c": "2", "d": "2"}},
		{"null removes", "a = 1\na = null\nb = \"null\"", map[string]string{"b": "null"}},
		{"arrays", "a = [x, \"y\", 3]\nb = [\n  \"k1:9092\",\n  \"k2:9092\",\n]\nc = []", map[string]string{"a": "x,y,3", "b": "k1:9092,k2:9092"}},
		{"append", "a = [x]\na += y\nb += z", map[string]string{"a": "x,y", "b": "z"}},
		// A missing ${?path} in an array adds no item (not an empty one).
		{"optional array items", "a = [1, ${?NOPE}]\nb = [${?NOPE}, 2]\nc = [${?HOST}, 2]\nd = [${?NOPE}]",
			map[string]string{"a": "1", "b": "2", "c": "h1,2"}},
		// A later field replaces an earlier one of another kind: a scalar
		// replaces an object and its fields, an object or a dotted key
		// replaces a scalar; objects still merge, and a missing ${?path}
		// replaces nothing.
		{"scalar replaces object", "a { b = 1, c = 2 }\na = 3\nd.e = 1\nd = null", map[string]string{"a": "3"}},
		{"object replaces scalar", "a = 1\na { b = 2 }\nc = 1\nc.d = 2\ne = x\ne = { f = 3 }", map[string]string{"a.b": "2", "c.d": "2", "e.f": "3"}},
		{"optional keeps object", "a { b = 1 }\na = ${?NOPE}", map[string]string{"a.b": "1"}},
		{"substitution of a key", "a = 1\nb = ${a}\nc = ${d.e}\nd { e = 5 }", map[string]string{"a": "1", "b": "1", "c": "5", "d.e": "5"}},
		{"substitution of the environment", "a = ${HOST}\nb = ${?HOST}\nc = ${?NOPE}\nd = ${?EMPTY}", map[string]string{"a": "h1", "b": "h1", "d": ""}},
		{"optional override", "a = default\na = ${?NOPE}\nb = default\nb = ${?HOST}", map[string]string{"a": "default", "b": "h1"}},
		{"concatenation", "a = \"x\" ${HOST}:9092 y\nb = ${?NOPE}z", map[string]string{"a": "x h1:9092 y", "b": "z"}},
		{"include skipped", "include \"spark.conf\"\ninclude file(\"x\")\na = 1", map[string]string{"a": "1"}},
		{"a key named include", "include = 5", map[string]string{"include": "5"}},
		{"empty", "", map[string]string{}},
		{"only comments", "# x\n\n// y\n", map[string]string{}},
		{"CRLF and BOM", "\ufeffa = 1\r\nb {\r\n c = 2\r\n}\r\n", map[string]string{"a": "1", "b.c": "2"}},
		// Values are the text written, not numbers or durations converted
		// back to text (see the package doc).
		{"numbers and durations as written", "a = 007\nb = 0.5\nc = 1000 ms\nd = 99999999999999999999",
			map[string]string{"a": "007", "b": "0.5", "c": "1000 ms", "d": "99999999999999999999"}},
	} {
		c, err := Parse("test.conf", []byte(tc.in), lookup)
		if err != nil {
			t.Errorf("%s: %v", tc.name, err)
			continue
		}
		if got := values(c); !maps.Equal(got, tc.want) {
			t.Errorf("%s: %v, want %v", tc.name, got, tc.want)
		}
	}
}

func TestParseErrors(t *testing.T) {
	for _, tc := range []struct {
		name, in, want string
	}{
		{"no value", "a =", `test.conf:1:4: key "a" has no value`},
		{"no separator", "a 1", `expected '=', ':' or '{' after key "a"`},
		{"unclosed block", "a {\n b = 1\n", `test.conf:3:1: missing '}'`},
		{"extra brace", "a = 1\n}", `expected a key, found '}'`},
		{"unterminated string", `a = "abc`, "test.conf:1:5: unterminated string"},
		{"bad escape", `a = "\q"`, `bad string "\q"`},
		{"unterminated triple", `a = """abc`, "unterminated"},
		{"two values", "a = 1 b = 2", `test.conf:1:9: unexpected '=' in the value of "a"`},
		{"missing substitution", "a = ${NOPE}", "test.conf:1: a: ${NOPE} is neither a key of the file nor an environment variable"},
		{"cycle", "a = ${b}\nb = ${a}", "substitution cycle"},
		{"unterminated substitution", "a = ${b", "unterminated substitution"},
		{"array of objects", "a = [{b = 1}]", "arrays of objects"},
		{"unclosed array", "a = [1, 2", "missing ']'"},
		{"not UTF-8", "a = \xff", "not UTF-8"},
		{"deep nesting", strings.Repeat("a {", 200), "nested more than 100 deep"},
		{"a leading comma", ", a = 1", "unexpected ','"},
		{"an empty key", "= 1", "expected a key, found '='"},
		// Inputs on which github.com/gurkankaymak/hocon v1.2.21 never
		// returns, panics or sets a value (see the package doc).
		{"an array left open after two values", "a = [0 0", `test.conf:1:9: missing ']' in the value of "a"`},
		{"a root array left open", "[0 0", "test.conf:1:1: expected a key, found '['"},
		{"a substitution left open", "a = ${b c", "test.conf:1:5: unterminated substitution ${b"},
		{"a substitution path through a non-object", "a = 1\nb = ${a.b}", "test.conf:2: b: ${a.b} is neither a key of the file nor an environment variable"},
		{"an unterminated string before a brace", "kafka {\n  topic = \"x\n}\n", "test.conf:2:11: unterminated string"},
	} {
		_, err := Parse("test.conf", []byte(tc.in), nil)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want an error containing %q", tc.name, err, tc.want)
		}
	}
}

func TestWarningsAndLines(t *testing.T) {
	c, err := Parse("app.conf", []byte("a = 1\n\ninclude \"spark.conf\"\nb {\n  c = 2\n}\na = 3\n"), nil)
	if err != nil {
		t.Fatal(err)
	}
	if w := c.Warnings(); len(w) != 1 || w[0] != `app.conf:3: include "spark.conf": includes are not supported; skipped` {
		t.Errorf("warnings %q", w)
	}
	if c.Line("a") != 7 || c.Line("b.c") != 5 || c.Line("nope") != 0 {
		t.Errorf("lines a=%d b.c=%d", c.Line("a"), c.Line("b.c"))
	}
}

func TestReadFile(t *testing.T) {
	name := filepath.Join(t.TempDir(), "x.conf")
	if err := os.WriteFile(name, []byte("a.b = ${?HOCON_TEST_VAR}"), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Setenv("HOCON_TEST_VAR", "from env")
	c, err := ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	if v, _ := c.Get("a.b"); v != "from env" {
		t.Errorf("a.b = %q", v)
	}
	if _, err := ReadFile(filepath.Join(t.TempDir(), "missing.conf")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing file: %v", err)
	}
}

// FuzzParse: any input parses or gives an error, without panicking, and
// every value of a parsed file is UTF-8.
func FuzzParse(f *testing.F) {
	f.Add("a = 1\nb { c = \"x\" }\n")
	f.Add("a = [1, ${?X}]\nb += 2 // c\n")
	f.Add(`a = """x""" ${a} "\u0041"`)
	f.Add("{ include \"x\", a.\"b.c\" : d }")
	f.Add("a = [0 0")
	f.Add("a = ${b c")
	f.Add("a = 1\nb = ${a.b}")
	f.Fuzz(func(t *testing.T, in string) {
		c, err := Parse("fuzz.conf", []byte(in), nil)
		if err != nil {
			return
		}
		for _, k := range c.Keys() {
			v, _ := c.Get(k)
			if !utf8.ValidString(k) || !utf8.ValidString(v) {
				t.Fatalf("%q = %q is not UTF-8", k, v)
			}
		}
	})
}
