package kudusink

import (
	"fmt"
	"reflect"
	"strings"
	"time"

	"github.com/microbatch-go/microbatch/internal/kudu"
)

// Mapping says how the records of type T become Kudu rows: by their
// struct tags (StructTags) or by a function (MapColumns). Pass it to New
// or WriteMapped, whose record type it sets, so that a mapping of another
// type does not compile. The zero Mapping maps by struct tags.
type Mapping[T any] struct {
	columns func(T) (map[string]any, error) // nil: the struct tags
	nilFunc bool                            // MapColumns(nil), refused by New
}

// StructTags maps the records by the struct tags of T (see the package
// documentation); Write uses it. T must be a struct type with columns,
// which New checks.
func StructTags[T any]() Mapping[T] { return Mapping[T]{} }

// MapColumns maps each record to its column values by name (nil for
// NULL) with f, instead of struct tags; an error of f rejects the record.
// The columns f names must be in the table, which must exist
// (CreateIfMissing needs StructTags).
func MapColumns[T any](f func(T) (map[string]any, error)) Mapping[T] {
	return Mapping[T]{columns: f, nilFunc: f == nil}
}

// mapper maps the fields of a struct type to Kudu columns by their tags.
type mapper struct {
	typ     reflect.Type
	fields  []mappedField
	columns []kudu.Column // key columns first, for CreateIfMissing
}

type mappedField struct {
	index []int
	name  string
	ptr   bool
}

var timeType = reflect.TypeFor[time.Time]()

// mapperFor reads T's struct tags: `kudu:"name"`, `kudu:"name,key"`,
// `kudu:"name,date"`, `kudu:"-"`; untagged exported fields are columns
// named by their lower-cased field name.
func mapperFor[T any]() (*mapper, error) {
	t := reflect.TypeFor[T]()
	if t.Kind() != reflect.Struct {
		return nil, fmt.Errorf("kudu: %v is not a struct: give a MapColumns function", t)
	}
	m := &mapper{typ: t}
	var keys, rest []kudu.Column
	for _, f := range reflect.VisibleFields(t) {
		if !f.IsExported() || f.Anonymous {
			continue
		}
		tag := f.Tag.Get("kudu")
		if tag == "-" {
			continue
		}
		name, flags, _ := strings.Cut(tag, ",")
		if name == "" {
			name = strings.ToLower(f.Name)
		}
		key := strings.Contains(","+flags+",", ",key,")
		date := strings.Contains(","+flags+",", ",date,")
		ft, ptr := f.Type, false
		if ft.Kind() == reflect.Pointer {
			ft, ptr = ft.Elem(), true
		}
		typ, err := kuduType(ft, date)
		if err != nil {
			return nil, fmt.Errorf("kudu: field %s: %w", f.Name, err)
		}
		col := kudu.Column{Name: name, Type: typ, Key: key, Nullable: ptr && !key}
		if key {
			keys = append(keys, col)
		} else {
			rest = append(rest, col)
		}
		m.fields = append(m.fields, mappedField{index: f.Index, name: name, ptr: ptr})
	}
	if len(m.fields) == 0 {
		return nil, fmt.Errorf("kudu: %v has no columns", t)
	}
	m.columns = append(keys, rest...)
	return m, nil
}

func kuduType(t reflect.Type, date bool) (kudu.Type, error) {
	if t == timeType {
		if date {
			return kudu.TypeDate, nil
		}
		return kudu.TypeUnixtimeMicros, nil
	}
	if date {
		return 0, fmt.Errorf("the date flag needs a time.Time field")
	}
	switch t.Kind() {
	case reflect.Int8:
		return kudu.TypeInt8, nil
	case reflect.Int16:
		return kudu.TypeInt16, nil
	case reflect.Int32:
		return kudu.TypeInt32, nil
	case reflect.Int64, reflect.Int:
		return kudu.TypeInt64, nil
	case reflect.Bool:
		return kudu.TypeBool, nil
	case reflect.Float32:
		return kudu.TypeFloat, nil
	case reflect.Float64:
		return kudu.TypeDouble, nil
	case reflect.String:
		return kudu.TypeString, nil
	case reflect.Slice:
		if t.Elem().Kind() == reflect.Uint8 {
			return kudu.TypeBinary, nil
		}
	}
	return 0, fmt.Errorf("no Kudu type for %v", t)
}

// values returns a record's column values; nil pointers are NULL.
func (m *mapper) values(rec any) (map[string]any, error) {
	v := reflect.ValueOf(rec)
	out := make(map[string]any, len(m.fields))
	for _, f := range m.fields {
		fv := v.FieldByIndex(f.index)
		if f.ptr {
			if fv.IsNil() {
				out[f.name] = nil
				continue
			}
			fv = fv.Elem()
		}
		out[f.name] = fv.Interface()
	}
	return out, nil
}
