package jobs

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// A native crash of the trainer (Go's dump of a SIGSEGV in libtorch: ~220 lines ending in registers) becomes one
// event and a one-line reason naming the signal and the last step; the whole dump is kept in the log file.
func TestCrashDumpIsOneLine(t *testing.T) {
	dump := []string{"SIGSEGV: segmentation violation", "PC=0x7f3a2c1d4e5f m=4 sigcode=1 addr=0x0",
		"signal arrived during cgo execution", "", "goroutine 1 gp=0xc000002380 m=4 mp=0xc000100008 [syscall]:"}
	for i := range 200 {
		dump = append(dump, "runtime.cgocall(0x1234, 0xc0000a1b2c)", "\t/usr/local/go/src/runtime/cgocall.go:"+strings.Repeat("1", i%3+1))
	}
	dump = append(dump, "rip    0x7f3a2c1d4e5f", "cs     0x33", "fs     0x0", "gs     0x0")
	var c crashState
	events := 0
	for _, l := range append([]string{"whet: tokenized 4000 rows"}, dump...) {
		if c.plainLine(l) {
			events++
		}
	}
	if events != 2 {
		t.Errorf("%d of %d plain lines became events, want 2 (the log line and the dump's first line)", events, len(dump)+1)
	}
	sig := c.signalled(nil)
	if sig != "SIGSEGV" {
		t.Fatalf("signal = %q, want SIGSEGV", sig)
	}
	want := "trainer crashed after step 37: SIGSEGV: segmentation violation in native code (libtorch)"
	if got := c.summary(sig, 37); got != want {
		t.Errorf("summary = %q, want %q", got, want)
	}
	dir := t.TempDir()
	p := c.saveLog(dir)
	b, err := os.ReadFile(filepath.Join(dir, TrainerLogFile))
	if p == "" || err != nil || !strings.Contains(string(b), "signal arrived during cgo execution") || !strings.HasSuffix(string(b), "gs     0x0\n") {
		t.Errorf("log file %q: %v; content %.200q", p, err, b)
	}
}
