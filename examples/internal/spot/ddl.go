package spot

import (
	"fmt"
	"strings"

	"github.com/parquet-go/parquet-go"
	"github.com/parquet-go/parquet-go/format"
)

// DDL returns the Hive statement that declares the table of pipeline t in
// database db over the Parquet files under location, as Spot's
// spot-setup/hive/create_<type>_parquet.hql do:
//
//	CREATE EXTERNAL TABLE IF NOT EXISTS spot.flow (
//	  treceived STRING,
//	  ...
//	  rip STRING
//	)
//	PARTITIONED BY (y SMALLINT, m TINYINT, d TINYINT, h TINYINT)
//	STORED AS PARQUET
//	LOCATION '/user/spot/flow/hive';
//
// The columns and their types are read from the row struct's Parquet
// schema (parquet.SchemaOf), so they are the columns the listener writes;
// the partitions of proxy are STRING. Partitions written after the table
// was created are found with MSCK REPAIR TABLE (Hive) or ALTER TABLE ...
// RECOVER PARTITIONS / REFRESH (Impala). db must be a plain identifier;
// quotes and backslashes in location are escaped.
func DDL(t Type, db, location string) (string, error) {
	var schema *parquet.Schema
	var partType []string
	switch t {
	case Flow:
		schema = parquet.SchemaOf(FlowRow{})
		partType = []string{"SMALLINT", "TINYINT", "TINYINT", "TINYINT"}
	case DNS:
		schema = parquet.SchemaOf(DNSRow{})
		partType = []string{"SMALLINT", "TINYINT", "TINYINT", "TINYINT"}
	case Proxy:
		schema = parquet.SchemaOf(ProxyRow{})
		partType = []string{"STRING", "STRING", "STRING", "STRING"}
	default:
		return "", fmt.Errorf("spot: DDL: unknown type %q", t)
	}
	if !hiveIdentifier(db) {
		return "", fmt.Errorf("spot: DDL: database name %q is not an identifier (letters, digits and _)", db)
	}
	if location == "" {
		return "", fmt.Errorf("spot: DDL: empty location")
	}
	var b strings.Builder
	fmt.Fprintf(&b, "CREATE EXTERNAL TABLE IF NOT EXISTS %s.%s (\n", db, t)
	fields := schema.Fields()
	for i, f := range fields {
		typ, err := hiveType(f)
		if err != nil {
			return "", fmt.Errorf("spot: DDL: %s: %w", t, err)
		}
		sep := ","
		if i == len(fields)-1 {
			sep = ""
		}
		fmt.Fprintf(&b, "  %s %s%s\n", f.Name(), typ, sep)
	}
	b.WriteString(")\nPARTITIONED BY (")
	for i, c := range PartitionCols {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(c + " " + partType[i])
	}
	b.WriteString(")\nSTORED AS PARQUET\nLOCATION '")
	b.WriteString(hiveQuote.Replace(location))
	b.WriteString("';\n")
	return b.String(), nil
}

// hiveQuote escapes a Hive string literal's content.
var hiveQuote = strings.NewReplacer(`\`, `\\`, `'`, `\'`, "\n", `\n`)

func hiveIdentifier(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '_') {
			return false
		}
	}
	return true
}

// hiveType maps a column of a row's Parquet schema to its Hive type.
func hiveType(f parquet.Field) (string, error) {
	if !f.Leaf() || f.Repeated() {
		return "", fmt.Errorf("column %s: not a plain column", f.Name())
	}
	t := f.Type()
	lt := t.LogicalType()
	switch t.Kind() {
	case parquet.ByteArray:
		if lt != nil {
			if _, ok := lt.Value.(*format.StringType); ok {
				return "STRING", nil
			}
		}
	case parquet.Int32:
		if lt == nil || isSignedInt(lt, 32) {
			return "INT", nil
		}
	case parquet.Int64:
		if lt == nil || isSignedInt(lt, 64) {
			return "BIGINT", nil
		}
	case parquet.Float:
		return "FLOAT", nil
	case parquet.Double:
		return "DOUBLE", nil
	case parquet.Boolean:
		return "BOOLEAN", nil
	}
	return "", fmt.Errorf("column %s: no Hive type for Parquet %v", f.Name(), t)
}

func isSignedInt(lt *format.LogicalType, bits int8) bool {
	it, ok := lt.Value.(*format.IntType)
	return ok && it.IsSigned && it.BitWidth == bits
}
