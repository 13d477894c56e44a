// Package tail keeps the last bytes a process or guest wrote, for error messages: the server captures worker and
// module output through it without letting a flood grow memory.
package tail

import (
	"bytes"
	"strings"
	"sync"
)

// Buffer keeps the last Max bytes written to it. It is safe for concurrent use: an abandoned call may still write
// while another goroutine reads. The zero value keeps nothing; set Max.
type Buffer struct {
	Max int

	mu      sync.Mutex
	buf     []byte
	dropped int64
}

// Write implements io.Writer; it never fails.
func (b *Buffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	n := len(p)
	if b.Max <= 0 {
		b.dropped += int64(n)
		return n, nil
	}
	if len(p) > b.Max {
		b.dropped += int64(len(p) - b.Max)
		p = p[len(p)-b.Max:]
	}
	b.buf = append(b.buf, p...)
	// Trim only once the buffer holds twice Max, so a stream of small writes copies each byte O(1) times.
	if len(b.buf) > 2*b.Max {
		cut := len(b.buf) - b.Max
		b.dropped += int64(cut)
		b.buf = append(b.buf[:0], b.buf[cut:]...)
	}
	return n, nil
}

// Reset forgets everything written so far.
func (b *Buffer) Reset() {
	b.mu.Lock()
	b.buf, b.dropped = b.buf[:0], 0
	b.mu.Unlock()
}

// Tail returns a copy of the kept bytes (at most Max) and how many earlier bytes were dropped.
func (b *Buffer) Tail() (kept []byte, dropped int64) {
	b.mu.Lock()
	defer b.mu.Unlock()
	kept, dropped = b.buf, b.dropped
	if len(kept) > b.Max {
		dropped += int64(len(kept) - b.Max)
		kept = kept[len(kept)-b.Max:]
	}
	return bytes.Clone(kept), dropped
}

// LastLines returns up to n of the last non-blank lines, oldest first, trimmed.
func (b *Buffer) LastLines(n int) []string {
	kept, _ := b.Tail()
	var lines []string
	for _, l := range bytes.Split(bytes.TrimSpace(kept), []byte("\n")) {
		if s := strings.TrimSpace(string(l)); s != "" {
			lines = append(lines, s)
		}
	}
	return lines[max(0, len(lines)-n):]
}
