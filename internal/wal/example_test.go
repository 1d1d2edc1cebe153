package wal_test

import (
	"fmt"
	"log"
	"os"

	"github.com/microbatch-go/microbatch/internal/wal"
)

func Example() {
	dir, err := os.MkdirTemp("", "wal-example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)

	// A receiver stores blocks; each is durable when Append returns.
	l, err := wal.Open(dir, wal.Codec("text"))
	if err != nil {
		log.Fatal(err)
	}
	for _, block := range []string{"a b c", "d e", "f"} {
		if _, err := l.Append([]byte(block)); err != nil {
			log.Fatal(err)
		}
	}
	l.Close()

	// After a restart: replay what no completed batch covered (here, from
	// seq 2 on), then drop what is no longer needed.
	l, err = wal.Open(dir, wal.Codec("text"))
	if err != nil {
		log.Fatal(err)
	}
	defer l.Close()
	fmt.Println(l.Recovery())
	err = l.Scan(2, func(seq uint64, payload []byte) error {
		fmt.Printf("replay %d: %s\n", seq, payload)
		return nil
	})
	if err != nil {
		log.Fatal(err)
	}
	if err := l.RemoveBefore(2); err != nil {
		log.Fatal(err)
	}
	// Output:
	// recovered 3 records (seqs 1-3) in 1 segments, next seq 4
	// replay 2: d e
	// replay 3: f
}
