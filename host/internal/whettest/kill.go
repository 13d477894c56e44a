package whettest

import (
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// MarkPID waits (up to 30 s) for the fake trainer blocked at FAKEWHET_BLOCK_AT to write its pid to mark
// (FAKEWHET_MARK) and returns it. The fake writes the mark after that step's checkpoint event, so a trainer killed
// once the mark exists has reported its checkpoint.
func MarkPID(t testing.TB, mark string) int {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		b, err := os.ReadFile(mark)
		if pid, perr := strconv.Atoi(strings.TrimSpace(string(b))); err == nil && perr == nil && pid > 0 {
			return pid
		}
		if time.Now().After(deadline) {
			t.Fatalf("the trainer never wrote its pid to %s", mark)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// KillAtMark waits for the mark (MarkPID), runs then (nil: nothing), and SIGKILLs that pid, as the OOM killer would.
func KillAtMark(t testing.TB, mark string, then func()) {
	t.Helper()
	pid := MarkPID(t, mark)
	if then != nil {
		then()
	}
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
}
