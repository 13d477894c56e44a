package jobs

import (
	"context"
	"errors"
	"fmt"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"

	"github.com/whetml/whet/host/store"
	"github.com/whetml/whet/internal/atomicfile"
	"github.com/whetml/whet/internal/tail"
	"github.com/whetml/whet/sdk"
)

// TrainerLogFile is the file in a job's folder that keeps the trainer's last plain output lines (a crash dump,
// libtorch messages) when the trainer fails; GET /v1/fine_tuning/jobs/{id}/log serves it.
const TrainerLogFile = "trainer.log"

// trainerLogBytes bounds what a job keeps of its trainer's plain output.
const trainerLogBytes = 256 << 10

// crashStart matches the first line of a Go runtime crash dump: a fatal signal in native code ("SIGSEGV:
// segmentation violation"), a runtime fatal error or a panic.
var crashStart = regexp.MustCompile(`^(SIG[A-Z]+: |fatal error: |panic: )`)

// crashState follows a trainer's plain output for a crash dump.
type crashState struct {
	// log keeps the plain lines, for TrainerLogFile.
	log tail.Buffer
	// first is the dump's first line ("SIGSEGV: segmentation violation"), "" before a crash.
	first string
	// cgo is set when the dump says the signal arrived in native code.
	cgo bool
}

// plainLine records a non-protocol line and reports whether to store it as a job event: the first line of a crash
// dump is, the hundreds after it are not (they stay in the log file).
func (c *crashState) plainLine(text string) (event bool) {
	if c.log.Max == 0 {
		c.log.Max = trainerLogBytes
	}
	_, _ = c.log.Write([]byte(text + "\n"))
	if c.first != "" {
		c.cgo = c.cgo || strings.Contains(text, "signal arrived during cgo execution")
		return false
	}
	if crashStart.MatchString(text) {
		c.first = text
	}
	return true
}

// signalled returns the name of the signal that ended the trainer: one it was killed by (the OOM killer's SIGKILL),
// or a fatal signal its crash dump reports ("SIGSEGV"); "" otherwise.
func (c *crashState) signalled(waitErr error) string {
	var ee *exec.ExitError
	if errors.As(waitErr, &ee) {
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			return signalName(ws.Signal())
		}
	}
	if name, _, ok := strings.Cut(c.first, ":"); ok && strings.HasPrefix(name, "SIG") {
		return name
	}
	return ""
}

func signalName(s syscall.Signal) string {
	switch s {
	case syscall.SIGKILL:
		return "SIGKILL"
	case syscall.SIGSEGV:
		return "SIGSEGV"
	case syscall.SIGABRT:
		return "SIGABRT"
	case syscall.SIGBUS:
		return "SIGBUS"
	case syscall.SIGTERM:
		return "SIGTERM"
	}
	return fmt.Sprintf("signal %d (%s)", int(s), s)
}

// summary is the one-line reason of a trainer that died by signal sig after step.
func (c *crashState) summary(sig string, step int) string {
	msg := fmt.Sprintf("trainer killed by %s after step %d", sig, step)
	if c.first != "" {
		msg = fmt.Sprintf("trainer crashed after step %d: %s", step, c.first)
		if c.cgo {
			msg += " in native code (libtorch)"
		}
	}
	return msg
}

// saveLog writes the kept plain output to the job folder and returns its path ("" when there is none).
func (c *crashState) saveLog(dir string) string {
	kept, dropped := c.log.Tail()
	if len(kept) == 0 {
		return ""
	}
	if dropped > 0 {
		kept = append([]byte(fmt.Sprintf("[%d earlier bytes dropped]\n", dropped)), kept...)
	}
	p := filepath.Join(dir, TrainerLogFile)
	if err := atomicfile.Write(p, kept, 0o644); err != nil {
		return ""
	}
	return p
}

// retryAfterSignal requeues a job whose trainer died by a signal to resume from its last checkpoint, while
// attempts remain (max_attempts); it reports whether it did. The reason and the attempt are in the status event.
func (q *Queue) retryAfterSignal(ctx context.Context, j *store.Job, r *run, reason, note string) (bool, error) {
	cur, err := q.st.GetJob(ctx, j.ID)
	if err != nil || cur.Attempts >= q.maxAttempts(cur) {
		return false, err
	}
	resume := q.latestCheckpoint(ctx, j.ID)
	next := "restarting from the beginning (no checkpoint yet)"
	if resume != "" {
		next = "resuming from " + filepath.Base(resume)
	}
	msg := fmt.Sprintf("%s (attempt %d of %d): %s%s", reason, cur.Attempts, q.maxAttempts(cur), next, note)
	_, err = q.transition(ctx, j.ID, Running, Queued, r.guard(store.JobChange{ResumeFrom: &resume}), "warn", msg)
	return err == nil, err
}

// failAfterSignal fails a job whose trainer died by a signal with no attempts left.
func (q *Queue) failAfterSignal(ctx context.Context, j *store.Job, r *run, reason, note string) error {
	cur, err := q.st.GetJob(ctx, j.ID)
	if err != nil {
		return err
	}
	msg := fmt.Sprintf("%s (attempt %d of %d, no attempts left: max_attempts)%s", reason, cur.Attempts, q.maxAttempts(cur), note)
	_, err = q.transition(ctx, j.ID, Running, Failed, r.guard(store.JobChange{Finished: true,
		Error: &sdk.JobError{Code: "trainer_crashed", Message: msg}}), "error", "job failed: "+msg)
	return err
}
