package predict

import (
	"strings"

	"github.com/whetml/whet/internal/tail"
)

// newStderr returns the buffer a worker's stderr goes to: its last 8 KiB, for error messages.
func newStderr() *tail.Buffer { return &tail.Buffer{Max: 8 << 10} }

// stderrTail returns the last three non-blank lines a worker wrote, joined with " | ", or "no output on stderr".
func stderrTail(b *tail.Buffer) string {
	lines := b.LastLines(3)
	if len(lines) == 0 {
		return "no output on stderr"
	}
	return strings.Join(lines, " | ")
}
