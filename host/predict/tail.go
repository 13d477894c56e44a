package predict

import (
	"bytes"
	"strings"
	"sync"
)

// tailBuffer keeps the last 8 KiB a worker wrote to stderr, for error messages.
type tailBuffer struct {
	mu  sync.Mutex
	buf []byte
}

// Write implements io.Writer.
func (t *tailBuffer) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.buf = append(t.buf, p...)
	if len(t.buf) > 8<<10 {
		t.buf = t.buf[len(t.buf)-8<<10:]
	}
	return len(p), nil
}

// tail returns the last three non-empty lines, joined with " | ", or "no output on stderr".
func (t *tailBuffer) tail() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	var lines []string
	for _, l := range bytes.Split(bytes.TrimSpace(t.buf), []byte("\n")) {
		if s := strings.TrimSpace(string(l)); s != "" {
			lines = append(lines, s)
		}
	}
	if len(lines) == 0 {
		return "no output on stderr"
	}
	return strings.Join(lines[max(0, len(lines)-3):], " | ")
}
