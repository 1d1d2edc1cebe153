package dstreamtest

import (
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"
)

// maxShown is how many elements a message shows of one list.
const maxShown = 20

// Equal reports whether got, the output of Run, equals want batch by
// batch and element by element, in order. Otherwise it reports each
// differing batch with t.Errorf, naming its index and time, and returns
// false. A nil batch means no batch at that time and differs from an
// empty one. Use it for streams whose order within a batch is defined:
// narrow operations (Map, Filter, FlatMap, ...) and windows of them keep
// the input's order. Give the run's Interval among opts so that the
// messages show the right times; other options are ignored.
func Equal[T comparable](t testing.TB, got, want [][]T, opts ...Option) bool {
	t.Helper()
	return compare(t, "Equal", got, want, opts, orderedDiff[T])
}

// EqualUnordered is Equal with each batch compared as a multiset: the
// same elements as often, in any order. Use it for wide operations
// (ReduceByKey, joins, state, CountByValue, ...), whose order within a
// batch is not defined. Normalize elements that are not comparable, such
// as GroupByKey's slices, into comparable ones (a sorted, joined string)
// in the stream function.
func EqualUnordered[T comparable](t testing.TB, got, want [][]T, opts ...Option) bool {
	t.Helper()
	return compare(t, "EqualUnordered", got, want, opts, multisetDiff[T])
}

func compare[T comparable](t testing.TB, fn string, got, want [][]T, opts []Option, diff func(got, want []T) string) bool {
	t.Helper()
	cfg, err := newConfig(opts)
	if err != nil {
		t.Fatalf("dstreamtest: %s: %v", fn, err)
	}
	at := func(i int) string {
		return fmt.Sprintf("batch %d at %d ms", i, epoch().Add(time.Duration(i+1)*cfg.interval).UnixMilli())
	}
	ok := true
	for i := range max(len(got), len(want)) {
		switch {
		case i >= len(want):
			t.Errorf("dstreamtest: %s: got %d batches, want %d: extra %s: %s", fn, len(got), len(want), at(i), describe(got[i]))
			ok = false
		case i >= len(got):
			t.Errorf("dstreamtest: %s: got %d batches, want %d: missing %s: want %s", fn, len(got), len(want), at(i), describe(want[i]))
			ok = false
		case got[i] == nil && want[i] == nil:
		case got[i] == nil || want[i] == nil:
			t.Errorf("dstreamtest: %s: %s: got %s, want %s", fn, at(i), describe(got[i]), describe(want[i]))
			ok = false
		default:
			if d := diff(got[i], want[i]); d != "" {
				t.Errorf("dstreamtest: %s: %s: %s", fn, at(i), d)
				ok = false
			}
		}
	}
	return ok
}

// orderedDiff describes how got differs from want, in order, or returns "".
func orderedDiff[T comparable](got, want []T) string {
	for j := range max(len(got), len(want)) {
		switch {
		case j >= len(got):
			return fmt.Sprintf("got %s, want %s: %d elements instead of %d, %s missing at the end", list(got), list(want), len(got), len(want), format(want[j]))
		case j >= len(want):
			return fmt.Sprintf("got %s, want %s: %d elements instead of %d, %s extra at the end", list(got), list(want), len(got), len(want), format(got[j]))
		case got[j] != want[j]:
			return fmt.Sprintf("got %s, want %s: element %d is %s, want %s", list(got), list(want), j, format(got[j]), format(want[j]))
		}
	}
	return ""
}

// multisetDiff describes how got differs from want as multisets, or
// returns "".
func multisetDiff[T comparable](got, want []T) string {
	count := make(map[T]int, len(want))
	for _, x := range want {
		count[x]++
	}
	var unexpected []T
	for _, x := range got {
		if count[x] > 0 {
			count[x]--
		} else {
			unexpected = append(unexpected, x)
		}
	}
	var missing []T
	for _, x := range want {
		if count[x] > 0 {
			count[x]--
			missing = append(missing, x)
		}
	}
	if len(missing) == 0 && len(unexpected) == 0 {
		return ""
	}
	var b strings.Builder
	fmt.Fprintf(&b, "got %s, want %s in any order:", list(got), list(want))
	if len(missing) > 0 {
		fmt.Fprintf(&b, " missing %s", list(missing))
	}
	if len(unexpected) > 0 {
		if len(missing) > 0 {
			b.WriteString(",")
		}
		fmt.Fprintf(&b, " unexpected %s", list(unexpected))
	}
	return b.String()
}

// describe shows a batch: its elements, or "no batch" for nil.
func describe[T any](b []T) string {
	if b == nil {
		return "no batch"
	}
	return list(b)
}

// list shows elements, up to maxShown of them.
func list[T any](xs []T) string {
	var b strings.Builder
	b.WriteString("[")
	for j, x := range xs {
		if j == maxShown {
			fmt.Fprintf(&b, " ... (%d more)", len(xs)-maxShown)
			break
		}
		if j > 0 {
			b.WriteString(" ")
		}
		b.WriteString(format(x))
	}
	b.WriteString("]")
	return b.String()
}

// format shows one element: strings quoted (so that "" and spaces show),
// anything else with %v (pairs as (key,value)).
func format[T any](x T) string {
	if s, ok := any(x).(string); ok {
		return strconv.Quote(s)
	}
	return fmt.Sprint(x)
}
