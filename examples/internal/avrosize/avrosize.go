// Package avrosize gives the example applications hamba/avro APIs whose
// decoding limits follow the size of the message being decoded, and
// whose encoding matches what Python and Java producers write.
package avrosize

import (
	"math"
	"math/bits"
	"sync"

	"github.com/hamba/avro/v2"
)

var apis sync.Map // size class -> avro.API

// API returns the Avro API for a datum of n bytes (0 when encoding).
//
// It writes each array and map in one block with a plain item count and
// no byte size, as Avro's Python and Java libraries do, so that our bytes
// equal theirs. A datum of n bytes holds no string longer than n and
// fewer than n items, so the decoder's limits are n rounded up to a power
// of two (at least 1 KiB): a corrupt length prefix cannot make it
// allocate more than the message could hold.
func API(n int) avro.API {
	class := bits.Len(uint(max(n, 1024) - 1))
	if api, ok := apis.Load(class); ok {
		return api.(avro.API)
	}
	api := avro.Config{
		BlockLength:            math.MaxInt32,
		DisableBlockSizeHeader: true,
		MaxByteSliceSize:       1 << class,
		MaxSliceAllocSize:      1 << class,
	}.Freeze()
	actual, _ := apis.LoadOrStore(class, api)
	return actual.(avro.API)
}
