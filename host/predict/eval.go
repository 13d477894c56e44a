package predict

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"time"
)

// EvalOptions are the column settings of the file Evaluate reads.
type EvalOptions struct {
	// TextColumn and LabelColumn name the columns when they are not found by name. Default: "".
	TextColumn, LabelColumn string
	// Base, for a LoRA adapter folder, is its base model's folder (passed as --base; default: the adapter's
	// base_model_name_or_path).
	Base string
}

// Evaluate runs `Bin eval --model dir --input data` (Config.Evaluations at a time per pool, with Merge: it competes
// with training for the CPU) and returns the metrics document it prints as its last stdout line. Cancelling ctx
// interrupts it.
//
// # Errors
//
// ctx's error while waiting for a turn; a *WorkerError with Request set when whet eval rejected the input (its
// "whet eval: ..." line, such as a label the model does not know), without it when the process failed otherwise.
func (p *Pool) Evaluate(ctx context.Context, id, dir, data string, opts EvalOptions) (json.RawMessage, error) {
	args := []string{"eval", "--model", dir, "--input", data}
	if p.cfg.Threads > 0 {
		args = append(args, "--threads", strconv.Itoa(p.cfg.Threads))
	}
	if opts.TextColumn != "" {
		args = append(args, "--text-column", opts.TextColumn)
	}
	if opts.LabelColumn != "" {
		args = append(args, "--label-column", opts.LabelColumn)
	}
	if opts.Base != "" {
		args = append(args, "--base", opts.Base)
	}
	out, err := p.runNative(ctx, id, "eval", args)
	if err != nil {
		return nil, err
	}
	out = bytes.TrimSpace(out)
	if i := bytes.LastIndexByte(out, '\n'); i >= 0 {
		out = out[i+1:]
	}
	if !json.Valid(out) {
		return nil, &WorkerError{Model: id, Msg: fmt.Sprintf("eval printed no JSON summary (last line %q)", out)}
	}
	return json.RawMessage(out), nil
}

// Merge runs `Bin model merge --adapter adapterDir --base baseDir --out outDir` for the LoRA adapter model id (in
// turn with Evaluate): outDir becomes a plain model folder with the adapter folded into the base's weights.
//
// # Errors
//
// ctx's error; a *WorkerError naming id with whet's message when the merge failed.
func (p *Pool) Merge(ctx context.Context, id, adapterDir, baseDir, outDir string) error {
	_, err := p.runNative(ctx, id, "merge", []string{"model", "merge", "--adapter", adapterDir, "--base", baseDir, "--out", outDir})
	return err
}

// runNative runs `Bin args...` (what, for errors) for model id, Config.Evaluations at a time, and returns its
// stdout.
// A failure is a *WorkerError: Request set when whet named the caller's input at fault (a "whet eval: ..." line).
func (p *Pool) runNative(ctx context.Context, id, what string, args []string) ([]byte, error) {
	select {
	case p.evalSem <- struct{}{}:
		defer func() { <-p.evalSem }()
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	cmd := exec.CommandContext(ctx, p.cfg.Bin, args...)
	cmd.Env = append(os.Environ(), p.cfg.Env...)
	cmd.SysProcAttr = sysProcAttr()
	cmd.Cancel = func() error { return cmd.Process.Signal(os.Interrupt) }
	cmd.WaitDelay = 10 * time.Second
	var stdout bytes.Buffer
	stderr := newStderr()
	cmd.Stdout, cmd.Stderr = &stdout, stderr
	err := cmd.Run()
	if ctx.Err() != nil {
		return nil, ctx.Err()
	}
	if err != nil {
		msg := stderrTail(stderr)
		reason := ""
		for _, l := range strings.Split(msg, " | ") {
			if strings.HasPrefix(l, "whet eval:") {
				reason = strings.TrimSpace(strings.TrimPrefix(l, "whet eval:"))
			}
		}
		if reason != "" {
			return nil, &WorkerError{Model: id, Msg: "eval: " + reason, Request: true}
		}
		return nil, &WorkerError{Model: id, Msg: fmt.Sprintf("%s: %v (%s)", what, err, msg)}
	}
	return stdout.Bytes(), nil
}
