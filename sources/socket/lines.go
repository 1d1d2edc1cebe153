package socket

import (
	"bufio"
	"errors"
	"fmt"
	"io"
)

// lineBufSize is the line reader's buffer: lines up to this long are cut
// without copying before they become strings.
const lineBufSize = 64 << 10

// lineConverter splits a connection into "\n"-terminated lines, drops a
// "\r" before the "\n", emits a last line without "\n" at EOF, and reports
// and skips lines longer than maxBytes.
func lineConverter(addr string, maxBytes int) convertFunc[string] {
	tooLong := fmt.Sprintf("socket: skipped a line from %s longer than the limit of %d bytes", addr, maxBytes)
	tooLongErr := fmt.Errorf("%w: more than %d bytes (MaxLineBytes)", ErrLineTooLong, maxBytes)
	return func(r io.Reader, emit func(string) error, report func(string, error)) error {
		br := bufio.NewReaderSize(r, lineBufSize)
		var long []byte // the start of a line longer than the buffer
		skipping := false
		for {
			frag, err := br.ReadSlice('\n')
			switch {
			case err == nil: // frag ends with '\n'
				if skipping {
					skipping = false
					continue
				}
				line := frag[:len(frag)-1]
				if len(long) > 0 {
					long = append(long, line...)
					line = long
				}
				line = trimCR(line)
				if len(line) > maxBytes {
					report(tooLong, tooLongErr)
				} else if err := emit(string(line)); err != nil {
					return err
				}
				long = release(long)
			case errors.Is(err, bufio.ErrBufferFull): // no '\n' in a full buffer
				if skipping {
					continue
				}
				long = append(long, frag...)
				// One byte more than the limit may still be a "\r" to drop.
				if len(long) > maxBytes+1 {
					report(tooLong, tooLongErr)
					long = release(long)
					skipping = true
				}
			case err == io.EOF: // frag is a last line without '\n'
				if skipping {
					return nil
				}
				line := append(long, frag...)
				if len(line) == 0 {
					return nil
				}
				line = trimCR(line)
				if len(line) > maxBytes {
					report(tooLong, tooLongErr)
					return nil
				}
				return emit(string(line))
			default:
				return err
			}
		}
	}
}

func trimCR(b []byte) []byte {
	if n := len(b); n > 0 && b[n-1] == '\r' {
		return b[:n-1]
	}
	return b
}

// release empties the buffer of long lines, and lets a large one go.
func release(b []byte) []byte {
	if cap(b) > 4*lineBufSize {
		return nil
	}
	return b[:0]
}
