package stdout

import (
	"fmt"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync"
	"unicode"
	"unicode/utf8"
)

// maxDepth bounds how deep formatValue follows pointers and nested values,
// so that cyclic data prints instead of looping.
const maxDepth = 16

const dstreamPkg = "github.com/microbatch-go/microbatch/dstream"

// formatValue formats x as fmt's %+v does, except that byte slices and
// byte arrays print as text when they are printable UTF-8 and as a quoted
// Go string otherwise (shortened to maxBytes when it is positive),
// dstream.Pair prints as (key,value) and dstream.Optional as Some(v) or
// None, wherever they are nested, and pointers print what they point to
// at any depth. types caches, by reflect.Type, whether a type needs the
// walk (see mayHoldBytes); each sink has its own.
func formatValue(x any, maxBytes int, types *sync.Map) string {
	if x == nil {
		return "<nil>"
	}
	p := printer{maxBytes: maxBytes, types: types}
	p.value(reflect.ValueOf(x), 0)
	return p.b.String()
}

type printer struct {
	b        strings.Builder
	maxBytes int
	types    *sync.Map // reflect.Type -> bool: mayHoldBytes
}

var (
	stringerType  = reflect.TypeFor[fmt.Stringer]()
	errorType     = reflect.TypeFor[error]()
	formatterType = reflect.TypeFor[fmt.Formatter]()
)

func (p *printer) value(v reflect.Value, depth int) {
	if !v.IsValid() {
		p.b.WriteString("<nil>")
		return
	}
	if depth > maxDepth {
		p.b.WriteString("...")
		return
	}
	t := v.Type()
	if isDstream(t, "Pair[") && t.Kind() == reflect.Struct && t.NumField() == 2 {
		p.b.WriteByte('(')
		p.value(v.Field(0), depth+1)
		p.b.WriteByte(',')
		p.value(v.Field(1), depth+1)
		p.b.WriteByte(')')
		return
	}
	if isDstream(t, "Optional[") && t.Kind() == reflect.Struct && t.NumField() == 2 {
		if !v.Field(1).Bool() {
			p.b.WriteString("None")
			return
		}
		p.b.WriteString("Some(")
		p.value(v.Field(0), depth+1)
		p.b.WriteByte(')')
		return
	}
	if v.CanInterface() && (hasMethods(t) || !p.mayHoldBytes(t)) {
		// fmt calls the value's own String, Error or Format method, and
		// formats everything else as usual.
		fmt.Fprintf(&p.b, "%+v", v.Interface())
		return
	}
	switch t.Kind() {
	case reflect.Slice:
		if t.Elem().Kind() == reflect.Uint8 {
			p.bytes(v.Bytes())
			return
		}
		p.list(v, depth)
	case reflect.Array:
		if t.Elem().Kind() == reflect.Uint8 {
			b := make([]byte, v.Len())
			for i := range b {
				b[i] = byte(v.Index(i).Uint())
			}
			p.bytes(b)
			return
		}
		p.list(v, depth)
	case reflect.Struct:
		p.b.WriteByte('{')
		for i := range t.NumField() {
			if i > 0 {
				p.b.WriteByte(' ')
			}
			p.b.WriteString(t.Field(i).Name)
			p.b.WriteByte(':')
			p.value(v.Field(i), depth+1)
		}
		p.b.WriteByte('}')
	case reflect.Map:
		if v.IsNil() {
			p.b.WriteString("map[]")
			return
		}
		type entry struct{ k, v string }
		var es []entry
		iter := v.MapRange()
		for iter.Next() {
			var kp, vp printer
			kp.maxBytes, vp.maxBytes = p.maxBytes, p.maxBytes
			kp.types, vp.types = p.types, p.types
			kp.value(iter.Key(), depth+1)
			vp.value(iter.Value(), depth+1)
			es = append(es, entry{kp.b.String(), vp.b.String()})
		}
		slices.SortFunc(es, func(a, b entry) int { return strings.Compare(a.k, b.k) })
		p.b.WriteString("map[")
		for i, e := range es {
			if i > 0 {
				p.b.WriteByte(' ')
			}
			p.b.WriteString(e.k)
			p.b.WriteByte(':')
			p.b.WriteString(e.v)
		}
		p.b.WriteByte(']')
	case reflect.Pointer:
		if v.IsNil() {
			p.b.WriteString("<nil>")
			return
		}
		p.b.WriteByte('&')
		p.value(v.Elem(), depth+1)
	case reflect.Interface:
		if v.IsNil() {
			p.b.WriteString("<nil>")
			return
		}
		p.value(v.Elem(), depth+1)
	default:
		p.leaf(v)
	}
}

// list formats a slice or an array of anything but bytes.
func (p *printer) list(v reflect.Value, depth int) {
	p.b.WriteByte('[')
	for i := range v.Len() {
		if i > 0 {
			p.b.WriteByte(' ')
		}
		p.value(v.Index(i), depth+1)
	}
	p.b.WriteByte(']')
}

// leaf formats a value of a basic kind, which may be an unexported field
// that reflect does not let us hand to fmt.
func (p *printer) leaf(v reflect.Value) {
	if v.CanInterface() {
		fmt.Fprintf(&p.b, "%+v", v.Interface())
		return
	}
	switch v.Kind() {
	case reflect.Bool:
		p.b.WriteString(strconv.FormatBool(v.Bool()))
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		p.b.WriteString(strconv.FormatInt(v.Int(), 10))
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		p.b.WriteString(strconv.FormatUint(v.Uint(), 10))
	case reflect.Float32, reflect.Float64:
		fmt.Fprint(&p.b, v.Float())
	case reflect.Complex64, reflect.Complex128:
		fmt.Fprint(&p.b, v.Complex())
	case reflect.String:
		p.b.WriteString(v.String())
	case reflect.Chan, reflect.Func, reflect.UnsafePointer:
		if v.IsNil() {
			p.b.WriteString("<nil>")
		} else {
			fmt.Fprintf(&p.b, "%#x", v.Pointer())
		}
	default:
		fmt.Fprintf(&p.b, "?%s", v.Type())
	}
}

// bytes formats b as text when it is printable UTF-8, and otherwise as a
// quoted Go string.
func (p *printer) bytes(b []byte) {
	more := 0
	if p.maxBytes > 0 && len(b) > p.maxBytes {
		n := p.maxBytes
		for n > 0 && n < len(b) && !utf8.RuneStart(b[n]) {
			n-- // do not cut a character in two
		}
		if n == 0 {
			n = p.maxBytes
		}
		more = len(b) - n
		b = b[:n]
	}
	if printable(b) {
		p.b.Write(b)
	} else {
		p.b.WriteString(strconv.Quote(string(b)))
	}
	if more > 0 {
		fmt.Fprintf(&p.b, "...(+%d bytes)", more)
	}
}

// printable reports whether b is valid UTF-8 without control characters
// or spaces other than ' ', so that it reads unambiguously as text.
func printable(b []byte) bool {
	for len(b) > 0 {
		r, size := utf8.DecodeRune(b)
		if r == utf8.RuneError && size <= 1 {
			return false
		}
		if r != ' ' && !unicode.IsPrint(r) {
			return false
		}
		b = b[size:]
	}
	return true
}

func isDstream(t reflect.Type, prefix string) bool {
	return t.PkgPath() == dstreamPkg && strings.HasPrefix(t.Name(), prefix)
}

// hasMethods reports whether fmt would format values of t with a method
// of their own.
func hasMethods(t reflect.Type) bool {
	return t.Implements(stringerType) || t.Implements(errorType) || t.Implements(formatterType)
}

// mayHoldBytes reports whether values of t may contain a byte slice or
// array, or a dstream Pair or Optional, that fmt would print differently
// from formatValue: then formatValue walks the value itself.
func (p *printer) mayHoldBytes(t reflect.Type) bool {
	if v, ok := p.types.Load(t); ok {
		return v.(bool)
	}
	r := scanType(t, map[reflect.Type]bool{})
	p.types.Store(t, r)
	return r
}

func scanType(t reflect.Type, seen map[reflect.Type]bool) bool {
	if seen[t] {
		return false
	}
	seen[t] = true
	if isDstream(t, "Pair[") || isDstream(t, "Optional[") {
		return true
	}
	switch t.Kind() {
	case reflect.Interface:
		return true // anything may be inside
	case reflect.Slice, reflect.Array:
		return t.Elem().Kind() == reflect.Uint8 || scanType(t.Elem(), seen)
	case reflect.Pointer:
		return true // fmt prints nested pointers as addresses
	case reflect.Map:
		return scanType(t.Key(), seen) || scanType(t.Elem(), seen)
	case reflect.Struct:
		for i := range t.NumField() {
			if scanType(t.Field(i).Type, seen) {
				return true
			}
		}
	}
	return false
}
