// Package hocon reads the subset of HOCON (the format of Typesafe Config,
// https://github.com/lightbend/config/blob/main/HOCON.md) that the
// application.conf files of Spark jobs use, as flat dotted keys with
// string values:
//
//	# a comment             // another
//	kafka {
//	  bootstrap.servers = "broker1:9092,broker2:9092"
//	  group.id: daf-iot-manager
//	}
//	kudu.events.table.numberOfBuckets = 8
//	hdfs.path = ${?IOT_HDFS_PATH}
//	include "spark.conf"
//
// Supported: key = value, key : value and key { ... } (also key = { ... }),
// nested objects, dotted keys ("a.b.c", with quoted segments for dots in
// names), an optional pair of braces around the whole file, commas or
// newlines between fields, quoted strings with JSON escapes, triple-quoted
// strings, unquoted strings (to the end of the line, a comma, a closing
// brace or bracket, or a comment; spaces inside are kept, trailing ones
// dropped), numbers, booleans and null (which removes the key), arrays of
// scalars (their values joined with commas), += (appends with a comma),
// # and // comments, and substitutions ${path} and ${?path}: the value of
// another key of the file, else of the environment variable of that name;
// ${?path} with neither leaves the key unset (or adds nothing inside a
// longer value), ${path} with neither is an error. Values concatenate as
// in HOCON ("a" ${B} c); in an array, a missing ${?path} adds no item.
// include lines are skipped with a warning. Later values of a key replace
// earlier ones, objects merge, and a later field replaces an earlier one
// of another kind (a scalar replaces an object and its fields; an object
// or a dotted key replaces a scalar).
//
// Not supported: objects inside arrays, substitutions of whole objects,
// self-referential substitutions, and include's file(), url() and
// classpath() forms, which are skipped like the others.
//
// # Why not github.com/gurkankaymak/hocon
//
// Version v1.2.21 of that library was run on the same inputs as this
// package: the original's application.conf, the inputs of this package's
// tests and of the iot-manager's configuration tests, and a fuzz corpus.
// It reads application.conf to the same values, but a configuration file
// must give a clear error and never a crash, and it does not:
//
//   - Some unfinished inputs never return. "a = [0 0" (an array left open
//     after two values on a line) loops and allocates without bound, and
//     "a = ${b c" (a substitution left open) spins. Here they are "missing
//     ']'" and "unterminated substitution" errors with their line.
//   - "a = 1" then "b = ${a.b}" (a path through a value that is not an
//     object) panics on a type assertion. Here it is the error for a
//     substitution that is neither a key nor a variable.
//   - Quoted strings keep their escapes as written ("x\ty" gives a
//     backslash and a t), and a string missing its closing quote is
//     accepted: in "kafka {", "topic = \"x", "}" (three lines) topic is x
//     and a newline. Here the escapes are decoded and the unterminated
//     string is an error at its line and column.
//   - Numbers and durations are converted, losing their text: 007 gives
//     7, 0.5 gives 5e-01, 1000 ms gives 1s, and a number too large for an
//     int is an error with no line. Here a value is the text written.
//   - The errors for substitutions and for an unclosed """ string have no
//     line (or line 0), and the parsed configuration keeps no line per
//     key, which the iot-manager's notes and errors give (file:line).
//
// The library does read include files, substitutions of whole objects and
// arrays of objects, which this package does not; the original's file
// uses none of them.
package hocon

import (
	"encoding/json"
	"fmt"
	"os"
	"slices"
	"strings"
	"unicode/utf8"
)

// Config is a parsed file: its keys, flattened to dotted paths.
type Config struct {
	values   map[string]string
	lines    map[string]int
	warnings []string
}

// Keys returns the keys that have a value, sorted.
func (c *Config) Keys() []string {
	keys := make([]string, 0, len(c.values))
	for k := range c.values {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// Get returns the value of a key.
func (c *Config) Get(key string) (string, bool) {
	v, ok := c.values[key]
	return v, ok
}

// Line returns the line that last set the key (0 if none did).
func (c *Config) Line(key string) int { return c.lines[key] }

// Warnings are the things the parser skipped (include lines), with their
// lines.
func (c *Config) Warnings() []string { return c.warnings }

// Error is a syntax error, with the line and column (from 1) where it is.
type Error struct {
	Name      string
	Line, Col int
	Msg       string
}

func (e *Error) Error() string { return fmt.Sprintf("%s:%d:%d: %s", e.Name, e.Line, e.Col, e.Msg) }

// ReadFile reads and parses a file, with the process's environment for
// substitutions.
func ReadFile(name string) (*Config, error) {
	data, err := os.ReadFile(name)
	if err != nil {
		return nil, err
	}
	return Parse(name, data, os.LookupEnv)
}

// maxDepth bounds the nesting of objects and of substitutions, so that no
// input can exhaust the stack.
const maxDepth = 100

// Parse parses data (name is for error messages); env looks up
// environment variables for substitutions (nil: none).
func Parse(name string, data []byte, env func(string) (string, bool)) (*Config, error) {
	if !utf8.Valid(data) {
		return nil, &Error{Name: name, Line: 1, Col: 1, Msg: "the file is not UTF-8"}
	}
	if env == nil {
		env = func(string) (string, bool) { return "", false }
	}
	p := &parser{name: name, s: string(data), line: 1, col: 1, raw: map[string]rawValue{}}
	p.skipSpace(true)
	if p.peek() == '{' { // braces around the root object
		p.next()
		if err := p.fields("", 1, '}'); err != nil {
			return nil, err
		}
		p.skipSpace(true)
		if !p.eof() {
			return nil, p.errorf("unexpected %q after the closing brace of the root object", p.peek())
		}
	} else if err := p.fields("", 0, 0); err != nil {
		return nil, err
	}
	c := &Config{values: map[string]string{}, lines: map[string]int{}, warnings: p.warnings}
	r := resolver{name: name, raw: p.raw, env: env, done: map[string]resolved{}}
	for key, rv := range p.raw {
		v, err := r.resolve(key, 0)
		if err != nil {
			return nil, err
		}
		if v.set {
			c.values[key] = v.s
			c.lines[key] = rv.line
		}
	}
	return c, nil
}

// piece is one part of a value: text, or a substitution.
type piece struct {
	text     string
	quoted   bool   // text came from a quoted string
	subst    string // the path of ${path}, or ""
	optional bool   // ${?path}
}

// rawValue is a key's value before substitutions are resolved. A value
// with += appends to the key's earlier value (prev).
type rawValue struct {
	pieces []piece
	// array says the value is an array; items are its items' pieces.
	array bool
	items [][]piece
	line  int
	null  bool
	prev  *rawValue // the value += appends to
	// fallback is the key's earlier value, which stays when this one
	// holds only optional substitutions that are missing.
	fallback *rawValue
}

type parser struct {
	name      string
	s         string
	pos       int
	line, col int
	raw       map[string]rawValue
	warnings  []string
}

func (p *parser) eof() bool { return p.pos >= len(p.s) }

func (p *parser) peek() byte {
	if p.eof() {
		return 0
	}
	return p.s[p.pos]
}

func (p *parser) hasPrefix(s string) bool { return strings.HasPrefix(p.s[p.pos:], s) }

func (p *parser) next() byte {
	c := p.s[p.pos]
	p.pos++
	if c == '\n' {
		p.line++
		p.col = 1
	} else if c < 0x80 || c >= 0xC0 { // count characters, not UTF-8 continuation bytes
		p.col++
	}
	return c
}

func (p *parser) errorf(format string, args ...any) error {
	return &Error{Name: p.name, Line: p.line, Col: p.col, Msg: fmt.Sprintf(format, args...)}
}

// skipSpace skips spaces and comments, and newlines too when newlines is
// set.
func (p *parser) skipSpace(newlines bool) {
	for !p.eof() {
		switch c := p.peek(); {
		case c == ' ' || c == '\t' || c == '\r' || c == '\f' || c == '\v':
			p.next()
		case c == '\n' && newlines:
			p.next()
		case c == '#' || p.hasPrefix("//"):
			for !p.eof() && p.peek() != '\n' {
				p.next()
			}
		case p.hasPrefix("\ufeff"): // a byte order mark
			p.pos += 3
		default:
			return
		}
	}
}

// fields parses the fields of an object under prefix, up to the closing
// character (0: the end of the file).
func (p *parser) fields(prefix string, depth int, closing byte) error {
	if depth > maxDepth {
		return p.errorf("objects nested more than %d deep", maxDepth)
	}
	for {
		p.skipSpace(true)
		switch {
		case p.eof() && closing == 0:
			return nil
		case p.eof():
			return p.errorf("missing %q", closing)
		case closing != 0 && p.peek() == closing:
			p.next()
			return nil
		case p.peek() == ',':
			return p.errorf("unexpected ','")
		}
		if err := p.field(prefix, depth); err != nil {
			return err
		}
		// A field ends at a newline, a comma or the closing character.
		p.skipSpace(false)
		switch {
		case p.eof() || p.peek() == '\n':
		case p.peek() == ',':
			p.next()
		case p.peek() == closing && closing != 0:
		default:
			return p.errorf("unexpected %q after a value: put one field per line or separate them with commas", p.peek())
		}
	}
}

// field parses one field: key and value, or an include.
func (p *parser) field(prefix string, depth int) error {
	line, start := p.line, p.pos
	if p.hasPrefix("include") {
		rest := strings.TrimLeft(p.s[p.pos+len("include"):], " \t")
		if strings.HasPrefix(rest, `"`) || strings.HasPrefix(rest, "file(") || strings.HasPrefix(rest, "url(") ||
			strings.HasPrefix(rest, "classpath(") || strings.HasPrefix(rest, "required(") {
			for !p.eof() && p.peek() != '\n' && p.peek() != '}' && p.peek() != ',' {
				p.next()
			}
			stmt := strings.TrimSpace(p.s[start:p.pos])
			p.warnings = append(p.warnings, fmt.Sprintf("%s:%d: %s: includes are not supported; skipped", p.name, line, stmt))
			return nil
		}
	}
	path, err := p.key()
	if err != nil {
		return err
	}
	key := joinPath(prefix, path)
	p.skipSpace(false)
	switch {
	case p.peek() == '{':
		p.next()
		p.replace(key, false)
		return p.fields(key, depth+1, '}')
	case p.peek() == '=' || p.peek() == ':':
		p.next()
	case p.hasPrefix("+="):
		p.next()
		p.next()
		v, err := p.value(key, depth)
		if err != nil || v == nil {
			return err
		}
		if prev, ok := p.raw[key]; ok {
			v.prev = &prev
		}
		p.raw[key] = *v
		return nil
	default:
		if p.eof() {
			return p.errorf("key %q has no value", key)
		}
		return p.errorf("expected '=', ':' or '{' after key %q, found %q", key, p.peek())
	}
	p.skipSpace(false)
	if p.peek() == '{' {
		p.next()
		p.replace(key, false)
		return p.fields(key, depth+1, '}')
	}
	v, err := p.value(key, depth)
	if err != nil || v == nil {
		return err
	}
	if !v.onlyOptional() {
		p.replace(key, true)
	}
	if prev, ok := p.raw[key]; ok {
		v.fallback = &prev
	}
	p.raw[key] = *v
	return nil
}

// replace drops what a value at key replaces, as HOCON has a later field
// replace an earlier one of another kind: the scalars at key's parents
// ("a" when a.b is set), and with scalar, the fields of an object at key
// ("a.b" when a is set to a scalar). An object at key merges with an
// earlier object there, so without scalar only the parents and a scalar
// at key itself go.
func (p *parser) replace(key string, scalar bool) {
	for i := range len(key) {
		if key[i] == '.' {
			delete(p.raw, key[:i])
		}
	}
	if !scalar {
		delete(p.raw, key)
		return
	}
	for k := range p.raw {
		if strings.HasPrefix(k, key+".") {
			delete(p.raw, k)
		}
	}
}

// onlyOptional reports whether the value holds nothing but ${?path}
// substitutions, which leave the key's earlier value when missing: such
// a value replaces nothing until it is resolved.
func (v *rawValue) onlyOptional() bool {
	if v.array || v.null || len(v.pieces) == 0 {
		return false
	}
	for _, pc := range v.pieces {
		if pc.subst == "" || !pc.optional {
			return false
		}
	}
	return true
}

func joinPath(prefix, path string) string {
	if prefix == "" {
		return path
	}
	return prefix + "." + path
}

// keyStop are the characters that end an unquoted key.
const keyStop = " \t\r\n.=:{}[],#\"+$`^?!@*&\\"

// key parses a dotted key; quoted segments keep their dots.
func (p *parser) key() (string, error) {
	var segs []string
	for {
		var seg string
		switch {
		case p.peek() == '"':
			s, err := p.quoted()
			if err != nil {
				return "", err
			}
			seg = s
		default:
			start := p.pos
			for !p.eof() && !strings.ContainsRune(keyStop, rune(p.peek())) && !p.hasPrefix("//") {
				p.next()
			}
			seg = p.s[start:p.pos]
			if seg == "" {
				if p.eof() {
					return "", p.errorf("expected a key")
				}
				return "", p.errorf("expected a key, found %q", p.peek())
			}
		}
		segs = append(segs, seg)
		if p.peek() != '.' {
			return strings.Join(segs, "."), nil
		}
		p.next()
	}
}

// value parses a value up to the end of the field. A null value removes
// the key (it gives a rawValue with null set).
func (p *parser) value(key string, depth int) (*rawValue, error) {
	v := &rawValue{line: p.line}
	p.skipSpace(false)
	if p.peek() == '[' {
		p.next()
		items, err := p.array(key, depth+1)
		if err != nil {
			return nil, err
		}
		v.array, v.items = true, items
		return v, nil
	}
	pieces, err := p.concatenation(key, false)
	if err != nil {
		return nil, err
	}
	if len(pieces) == 1 && pieces[0].subst == "" && !pieces[0].quoted && pieces[0].text == "null" {
		v.null = true
	}
	v.pieces = pieces
	return v, nil
}

// array parses the items of an array of scalars, after '['; the value
// joins them with commas.
func (p *parser) array(key string, depth int) ([][]piece, error) {
	if depth > maxDepth {
		return nil, p.errorf("arrays nested more than %d deep", maxDepth)
	}
	out := [][]piece{}
	for {
		p.skipSpace(true)
		switch {
		case p.eof():
			return nil, p.errorf("missing ']' in the value of %q", key)
		case p.peek() == ']':
			p.next()
			return out, nil
		case p.peek() == '{' || p.peek() == '[':
			return nil, p.errorf("%q: arrays of objects or arrays are not supported", key)
		}
		item, err := p.concatenation(key, true)
		if err != nil {
			return nil, err
		}
		out = append(out, item)
		p.skipSpace(true)
		if p.peek() == ',' {
			p.next()
		}
	}
}

// concatenation parses the pieces of one value up to a newline, a comma,
// a closing brace or bracket, or a comment; spaces between pieces are
// kept, as HOCON concatenates them.
func (p *parser) concatenation(key string, inArray bool) ([]piece, error) {
	var out []piece
	for {
		start := p.pos
		for !p.eof() && (p.peek() == ' ' || p.peek() == '\t') {
			p.next()
		}
		space := p.s[start:p.pos]
		if p.eof() || strings.IndexByte("\n,}]#\r", p.peek()) >= 0 || p.hasPrefix("//") {
			break
		}
		if len(out) > 0 && space != "" {
			out = append(out, piece{text: space})
		}
		switch {
		case p.hasPrefix(`"""`):
			s, err := p.tripleQuoted()
			if err != nil {
				return nil, err
			}
			out = append(out, piece{text: s, quoted: true})
		case p.peek() == '"':
			s, err := p.quoted()
			if err != nil {
				return nil, err
			}
			out = append(out, piece{text: s, quoted: true})
		case p.hasPrefix("${"):
			pc, err := p.substitution()
			if err != nil {
				return nil, err
			}
			out = append(out, pc)
		case p.peek() == '{' || p.peek() == '[':
			return nil, p.errorf("%q: objects and arrays cannot be concatenated with other values", key)
		default:
			s := p.unquoted()
			if s == "" {
				return nil, p.errorf("unexpected %q in the value of %q", p.peek(), key)
			}
			out = append(out, piece{text: s})
		}
	}
	if len(out) == 0 {
		if inArray {
			return nil, p.errorf("an empty item in the array of %q", key)
		}
		return nil, p.errorf("key %q has no value", key)
	}
	return out, nil
}

// unquoted reads an unquoted string, up to a space or a character that
// ends a value. It is lenient where HOCON is strict: ':' may appear in
// it, so host:port needs no quotes.
func (p *parser) unquoted() string {
	start := p.pos
	for !p.eof() && strings.IndexByte(" \t\r\n,}]#\"[{=", p.peek()) < 0 && !p.hasPrefix("//") && !p.hasPrefix("${") {
		p.next()
	}
	return p.s[start:p.pos]
}

// quoted reads a JSON string.
func (p *parser) quoted() (string, error) {
	start := p.pos
	line, col := p.line, p.col
	p.next() // "
	for {
		if p.eof() || p.peek() == '\n' {
			return "", &Error{Name: p.name, Line: line, Col: col, Msg: "unterminated string"}
		}
		c := p.next()
		if c == '\\' {
			if p.eof() {
				return "", &Error{Name: p.name, Line: line, Col: col, Msg: "unterminated string"}
			}
			p.next()
			continue
		}
		if c == '"' {
			break
		}
	}
	var s string
	if err := json.Unmarshal([]byte(p.s[start:p.pos]), &s); err != nil {
		return "", &Error{Name: p.name, Line: line, Col: col, Msg: "bad string " + p.s[start:p.pos]}
	}
	return s, nil
}

// tripleQuoted reads a """string""", with no escapes, newlines kept.
func (p *parser) tripleQuoted() (string, error) {
	line, col := p.line, p.col
	for range 3 {
		p.next()
	}
	start := p.pos
	end := strings.Index(p.s[p.pos:], `"""`)
	if end < 0 {
		return "", &Error{Name: p.name, Line: line, Col: col, Msg: "unterminated \"\"\" string"}
	}
	// HOCON: extra quotes just before the closing ones belong to the string.
	for p.pos+end+3 < len(p.s) && p.s[p.pos+end+3] == '"' {
		end++
	}
	for p.pos < start+end {
		p.next()
	}
	s := p.s[start:p.pos]
	for range 3 {
		p.next()
	}
	return s, nil
}

// substitution reads ${path} or ${?path}.
func (p *parser) substitution() (piece, error) {
	line, col := p.line, p.col
	p.next()
	p.next()
	optional := false
	if p.peek() == '?' {
		p.next()
		optional = true
	}
	p.skipSpace(false)
	path, err := p.key()
	if err != nil {
		return piece{}, err
	}
	p.skipSpace(false)
	if p.peek() != '}' {
		return piece{}, &Error{Name: p.name, Line: line, Col: col, Msg: "unterminated substitution ${" + path}
	}
	p.next()
	return piece{subst: path, optional: optional}, nil
}

// resolved is a key's final value; set is false for a key removed by null
// or left unset by a missing ${?path}.
type resolved struct {
	s   string
	set bool
}

type resolver struct {
	name string
	raw  map[string]rawValue
	env  func(string) (string, bool)
	done map[string]resolved
	busy []string // the keys being resolved, to report cycles
}

func (r *resolver) resolve(key string, depth int) (resolved, error) {
	if v, ok := r.done[key]; ok {
		return v, nil
	}
	if slices.Contains(r.busy, key) {
		return resolved{}, fmt.Errorf("%s: substitution cycle: %s -> %s", r.name, strings.Join(r.busy, " -> "), key)
	}
	if depth > maxDepth {
		return resolved{}, fmt.Errorf("%s: substitutions nested more than %d deep", r.name, maxDepth)
	}
	rv, ok := r.raw[key]
	if !ok {
		return resolved{}, nil
	}
	r.busy = append(r.busy, key)
	v, err := r.value(key, &rv, depth)
	r.busy = r.busy[:len(r.busy)-1]
	if err != nil {
		return resolved{}, err
	}
	r.done[key] = v
	return v, nil
}

func (r *resolver) value(key string, rv *rawValue, depth int) (resolved, error) {
	if rv.null {
		return resolved{}, nil
	}
	var b strings.Builder
	set := false
	if rv.prev != nil {
		prev, err := r.value(key, rv.prev, depth)
		if err != nil {
			return resolved{}, err
		}
		if prev.set && prev.s != "" {
			b.WriteString(prev.s)
			b.WriteByte(',')
		}
	}
	if rv.array {
		// An item that is a missing ${?path} adds nothing, not an empty
		// item; an array with no items leaves the key as an empty value
		// does (unset, or its earlier value).
		var items []string
		for _, it := range rv.items {
			v, err := r.pieces(key, rv.line, it, depth)
			if err != nil {
				return resolved{}, err
			}
			if v.set {
				items = append(items, v.s)
			}
		}
		if len(items) > 0 {
			b.WriteString(strings.Join(items, ","))
			return resolved{s: b.String(), set: true}, nil
		}
		if rv.prev != nil {
			return resolved{s: strings.TrimSuffix(b.String(), ","), set: true}, nil
		}
		if rv.fallback != nil {
			return r.value(key, rv.fallback, depth)
		}
		return resolved{}, nil
	}
	v, err := r.pieces(key, rv.line, rv.pieces, depth)
	if err != nil {
		return resolved{}, err
	}
	set = v.set
	b.WriteString(v.s)
	if !set && rv.prev == nil {
		if rv.fallback != nil {
			return r.value(key, rv.fallback, depth)
		}
		return resolved{}, nil
	}
	return resolved{s: b.String(), set: true}, nil
}

// pieces resolves the pieces of one value (or one array item) of key,
// written at line: set is false when it holds only ${?path}
// substitutions that are missing.
func (r *resolver) pieces(key string, line int, pcs []piece, depth int) (resolved, error) {
	var b strings.Builder
	set := false
	for _, pc := range pcs {
		if pc.subst == "" {
			b.WriteString(pc.text)
			set = true
			continue
		}
		var s string
		found := false
		if pc.subst != key {
			v, err := r.resolve(pc.subst, depth+1)
			if err != nil {
				return resolved{}, err
			}
			s, found = v.s, v.set
		}
		if !found {
			s, found = r.env(pc.subst)
		}
		switch {
		case found:
			b.WriteString(s)
			set = true
		case !pc.optional:
			return resolved{}, fmt.Errorf("%s:%d: %s: ${%s} is neither a key of the file nor an environment variable", r.name, line, key, pc.subst)
		}
	}
	return resolved{s: b.String(), set: set}, nil
}
