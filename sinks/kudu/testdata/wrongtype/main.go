// This program must not compile (TestWrongTypesDoNotCompile): each line
// marked WANT gives a callback typed by string records to the output of
// a stream of Events, and is a type mismatch.
package main

import (
	"time"

	"github.com/microbatch-go/microbatch/dstream"
	kudusink "github.com/microbatch-go/microbatch/sinks/kudu"
)

// Event is the stream's record type.
type Event struct {
	Source string `kudu:"source,key"`
}

func main() {
	ssc, _ := dstream.NewContext(time.Second)
	events := dstream.QueueStream(ssc, dstream.NewQueue[Event]())
	masters := []string{"kudu-master:7051"}
	ofStrings := func(s string) (map[string]any, error) { return map[string]any{"source": s}, nil }

	_ = kudusink.WriteMapped(events, masters, "t", kudusink.MapColumns(ofStrings)) // WANT MapColumns to WriteMapped

	stringSink, _ := kudusink.New(masters, "t", kudusink.MapColumns(ofStrings))
	_ = events.WriteTo(stringSink) // WANT MapColumns to New

	sink, _ := kudusink.New(masters, "t", kudusink.StructTags[Event]())
	_ = events.WriteTo(sink, dstream.WriteSpec[Event]{DeadLetter: func(s string, err error) {}}) // WANT DeadLetter
}
