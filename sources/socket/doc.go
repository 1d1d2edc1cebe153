// Package socket reads a stream from a TCP server, like Spark Streaming's
// socketTextStream and socketStream.
//
// TextStream connects to host:port and turns every "\n"-terminated line it
// reads into a record:
//
//	lines := socket.TextStream(ssc, "localhost:9999")
//	words := dstream.FlatMap(lines, strings.Fields)
//
// Stream does the same with any framing: a Converter reads the connection
// and emits records.
//
// # Connections
//
// The receiver dials the address when the context starts. When it cannot
// connect, or when the connection ends (the server closed it, a read
// failed, the converter returned an error), it reports the error to the
// context's listeners (dstream.ReceiverErrorListener) and its log, waits
// and connects again. The wait starts at a minimum (100 ms by default) and
// doubles after each attempt up to a maximum (5 s by default); it falls
// back to the minimum after a connection that delivered records. Waits are
// measured on the context's clock (dstream.WithClock); the dial timeout is
// real time. Stopping the context closes the connection, so a blocked read
// returns at once.
//
// A socket is not a replayable source: what the server sent while the
// receiver was disconnected, and what it sent that the receiver had not
// yet read when the context stopped, is lost, as in Spark.
//
// # Storing records
//
// Records are handed to the engine in runs of up to 1024 records, when a
// run is full and whenever the receiver has parsed everything it has read
// and is about to wait for more bytes from the socket, so a record is
// never held back while the connection is idle. The engine buffers them
// and cuts a block, one partition of the batch, every block interval
// (dstream.ReceiverHost.StoreAll): at most a fifth of the batch interval
// by default, so a record waits for the next batch, not for a block. With
// Acknowledge each run is a block of its own, stored (and with a
// write-ahead log, synced) before its acknowledgement
// (dstream.ReceiverHost.StoreSlice).
// A record that has been stored reaches the outputs even when the context
// is stopped gracefully right after.
//
// # Errors
//
// An invalid address or option does not panic: the returned stream is
// invalid (dstream.FailStream), and Stream.Err, its output operations and
// Context.Start report a *dstream.BuildError wrapping
// dstream.ErrInvalidOption. Problems at run time (no server, a closed
// connection, a converter error, a line that is too long) never stop the
// context: they are reported to the listeners and the log, and the
// receiver goes on.
package socket
