package parquetsink

import (
	"errors"
	"testing"
)

// FuzzParseClaim: any bytes give a claim or an error, never a panic, and
// a claim that parses encodes back to what parses the same.
func FuzzParseClaim(f *testing.F) {
	good := claim{from: 10, until: 25, writer: "abc", files: [][2]string{{"_temporary/x/0.tmp", "day=1/part-ev-00000-0000000010-0000000024-0.parquet"}}}
	f.Add(good.encode())
	f.Add([]byte("parquetsink chunk v1\nfrom 1\n"))
	f.Add([]byte("parquetsink chunk v1\nfrom 1\nuntil 1\nend\n"))
	f.Add([]byte("parquetsink chunk v1\nfile ../x\t/y\nend\n"))
	f.Add([]byte(""))
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := parseClaim("claim", data)
		if err != nil {
			return
		}
		if c.until <= c.from || c.from < 0 {
			t.Fatalf("parsed an invalid range %d to %d", c.from, c.until)
		}
		for _, fl := range c.files {
			if !validRel(fl[0]) || !validRel(fl[1]) {
				t.Fatalf("parsed an invalid file entry %q", fl)
			}
		}
		c2, err := parseClaim("claim", c.encode())
		if err != nil || c2.from != c.from || c2.until != c.until || c2.writer != c.writer || len(c2.files) != len(c.files) {
			t.Fatalf("re-encoded claim %+v parses as %+v, %v", c, c2, err)
		}
	})
}

// TestParseClaim pins the claim format.
func TestParseClaim(t *testing.T) {
	for _, tc := range []struct {
		name, in string
		partial  bool
		ok       bool
	}{
		{"complete", "parquetsink chunk v1\nfrom 0\nuntil 5\nwriter w\nfile a/0.tmp\tday=1/p.parquet\nend\n", false, true},
		{"no files", "parquetsink chunk v1\nfrom 3\nuntil 5\nwriter w\nend\n", false, true},
		{"empty: being written", "", true, false},
		{"no end: being written", "parquetsink chunk v1\nfrom 0\nuntil 5\n", true, false},
		{"other version", "parquetsink chunk v9\nend\n", false, false},
		{"empty range", "parquetsink chunk v1\nfrom 5\nuntil 5\nend\n", false, false},
		{"escaping path", "parquetsink chunk v1\nfrom 0\nuntil 5\nfile ../x\ty\nend\n", false, false},
		{"absolute path", "parquetsink chunk v1\nfrom 0\nuntil 5\nfile x\t/y\nend\n", false, false},
		{"after end", "parquetsink chunk v1\nfrom 0\nuntil 5\nend\nfrom 1\n", false, false},
		{"unknown key", "parquetsink chunk v1\nfrom 0\nuntil 5\nowner x\nend\n", false, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := parseClaim("c", []byte(tc.in))
			if got := errors.Is(err, errPartialClaim); got != tc.partial {
				t.Errorf("partial = %v (%v), want %v", got, err, tc.partial)
			}
			if (err == nil) != tc.ok {
				t.Errorf("err = %v, want ok %v", err, tc.ok)
			}
		})
	}
}
