package server_test

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/whetml/whet/host/internal/whettest"
	"github.com/whetml/whet/sdk"
	"github.com/whetml/whet/wasm/modules"
)

var fakeBin, serverBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "whet-server-test-")
	if err != nil {
		panic(err)
	}
	fakeBin, err = whettest.BuildFake(dir)
	if err == nil {
		serverBin = filepath.Join(dir, "testserver")
		out, berr := exec.Command("go", "build", "-o", serverBin, "github.com/whetml/whet/host/internal/testserver").CombinedOutput()
		if berr != nil {
			err = fmt.Errorf("build testserver: %v\n%s", berr, out)
		}
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

type proc struct {
	cmd    *exec.Cmd
	url    string
	stderr *bytes.Buffer
}

// startServer runs testserver on data and waits for its "listening" line.
func startServer(t *testing.T, data string, env ...string) *proc {
	t.Helper()
	return launch(t, env, serverBin, "--data", data)
}

// launch runs testserver with env added to the environment: argv is the testserver binary (or a wrapper such as
// prlimit, then testserver) and its flags.
func launch(t *testing.T, env []string, argv ...string) *proc {
	t.Helper()
	cmd := exec.Command(argv[0], append(argv[1:], "--bin", fakeBin)...)
	cmd.Env = append(os.Environ(), env...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &proc{cmd: cmd, stderr: &stderr}
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			cmd.Process.Kill()
			cmd.Wait()
		}
	})
	sc := bufio.NewScanner(out)
	if !sc.Scan() || !strings.HasPrefix(sc.Text(), "listening ") {
		cmd.Process.Kill()
		cmd.Wait()
		t.Fatalf("server did not start: %q\n%s", sc.Text(), stderr.String())
	}
	p.url = strings.TrimPrefix(sc.Text(), "listening ")
	return p
}

// waitExit blocks until process pid exits, using a pidfd (an event, not polling), or fails after timeout.
func waitExit(t *testing.T, pid int, timeout time.Duration) {
	t.Helper()
	fd, err := unix.PidfdOpen(pid, 0)
	if errors.Is(err, unix.ESRCH) {
		return // already gone
	}
	if err != nil {
		t.Fatalf("pidfd_open(%d): %v", pid, err)
	}
	defer unix.Close(fd)
	n, err := unix.Poll([]unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}, int(timeout.Milliseconds()))
	if err != nil || n != 1 {
		t.Fatalf("process %d still running after %v (poll: %d, %v)", pid, timeout, n, err)
	}
}

// TestKillAndRestart SIGKILLs the server in the middle of a job and starts it again on the same data folder: the
// job resumes from its checkpoint and succeeds, and files, modules, models and finished jobs are intact.
func TestKillAndRestart(t *testing.T) {
	data := t.TempDir()
	tmp := t.TempDir()
	block, mark := filepath.Join(tmp, "block"), filepath.Join(tmp, "trainer.pid")
	env := []string{"FAKEWHET_BLOCK_AT=2", "FAKEWHET_BLOCK_IF=" + block, "FAKEWHET_MARK=" + mark}
	srv := startServer(t, data, env...)
	c := sdk.NewClient(srv.url)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	mdir := filepath.Join(tmp, "tiny")
	if err := whettest.WriteModel(mdir, "neg", "pos"); err != nil {
		t.Fatal(err)
	}
	if _, err := c.CreateModel(ctx, sdk.CreateModelRequest{FromPath: mdir}); err != nil {
		t.Fatal(err)
	}
	file, err := c.UploadFile(ctx, sdk.UploadFileRequest{Filename: "sst2.jsonl", Content: strings.NewReader(whettest.SST2(50)), Purpose: sdk.PurposeFineTune})
	if err != nil {
		t.Fatal(err)
	}
	var module *sdk.Module
	if wasm, err := modules.ClassificationMetrics(); err == nil {
		if module, err = c.UploadModule(ctx, sdk.UploadModuleRequest{Filename: "metrics.wasm", Content: bytes.NewReader(wasm), Kind: sdk.ModuleKindEvaluate, Name: ""}); err != nil {
			t.Fatal(err)
		}
	} else {
		t.Logf("no module in this run (%v)", err)
	}
	// A job that finishes before the crash.
	done, err := c.CreateJob(ctx, sdk.CreateJobRequest{Model: "tiny", TrainingFile: file.ID, Suffix: "first"})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.StreamJobEvents(ctx, done.ID, 0, func(sdk.JobEvent) error { return nil }); err != nil {
		t.Fatal(err)
	}
	// A job caught in the middle.
	if err := os.WriteFile(block, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	req := sdk.CreateJobRequest{Model: "tiny", TrainingFile: file.ID}
	if module != nil {
		req.EvaluateModule = module.ID
	}
	mid, err := c.CreateJob(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	errCheckpoint := errors.New("checkpoint seen")
	err = c.StreamJobEvents(ctx, mid.ID, 0, func(ev sdk.JobEvent) error {
		if ev.Type == sdk.EventCheckpoint {
			return errCheckpoint
		}
		return nil
	})
	if !errors.Is(err, errCheckpoint) {
		t.Fatalf("waiting for a checkpoint: %v", err)
	}
	before := snapshot(t, ctx, c)
	trainerPID := whettest.MarkPID(t, mark)

	// Crash.
	if err := srv.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	srv.cmd.Wait()
	waitExit(t, trainerPID, 10*time.Second) // the trainer dies with the server (PR_SET_PDEATHSIG)

	// Restart, no longer blocking.
	if err := os.Remove(block); err != nil {
		t.Fatal(err)
	}
	srv2 := startServer(t, data, env...)
	c = sdk.NewClient(srv2.url)
	var msgs []string
	if err := c.StreamJobEvents(ctx, mid.ID, 0, func(ev sdk.JobEvent) error { msgs = append(msgs, ev.Message); return nil }); err != nil {
		t.Fatal(err)
	}
	got, err := c.GetJob(ctx, mid.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.Status != sdk.JobSucceeded || got.Attempts != 2 || got.FineTunedModel == nil {
		t.Fatalf("job after restart = %+v (error %+v)\nevents:\n%s", got, got.Error, strings.Join(msgs, "\n"))
	}
	all := strings.Join(msgs, "\n")
	for _, want := range []string{"server restarted while the job was running: resuming from checkpoint-2", "resumed from step 2"} {
		if !strings.Contains(all, want) {
			t.Errorf("events lack %q:\n%s", want, all)
		}
	}
	after := snapshot(t, ctx, c)
	if !reflect.DeepEqual(before.files, after.files) || !reflect.DeepEqual(before.modules, after.modules) {
		t.Fatalf("files or modules changed across the crash:\nbefore %+v %+v\nafter  %+v %+v", before.files, before.modules, after.files, after.modules)
	}
	if !reflect.DeepEqual(before.jobs[done.ID], after.jobs[done.ID]) {
		t.Fatalf("finished job changed across the crash:\nbefore %+v\nafter  %+v", before.jobs[done.ID], after.jobs[done.ID])
	}
	for id := range before.models {
		if !reflect.DeepEqual(before.models[id], after.models[id]) {
			t.Fatalf("model %s changed across the crash", id)
		}
	}
	first := *before.jobs[done.ID].FineTunedModel
	if preds, err := c.Predict(ctx, first, sdk.PredictRequest{Inputs: []string{"still here"}}); err != nil || len(preds) != 1 {
		t.Fatalf("predict with the model finished before the crash: %v", err)
	}

	// Graceful stop: SIGTERM, exit status 0.
	if err := srv2.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := srv2.cmd.Wait(); err != nil {
		t.Fatalf("graceful shutdown: %v\n%s", err, srv2.stderr.String())
	}
}

type state struct {
	files   []sdk.File
	modules []sdk.Module
	models  map[string]sdk.Model
	jobs    map[string]sdk.Job
}

func snapshot(t *testing.T, ctx context.Context, c *sdk.Client) state {
	t.Helper()
	files, err := c.ListFiles(ctx)
	if err != nil {
		t.Fatal(err)
	}
	mods, err := c.ListModules(ctx)
	if err != nil {
		t.Fatal(err)
	}
	models, err := c.ListModels(ctx)
	if err != nil {
		t.Fatal(err)
	}
	jobs, err := c.ListJobs(ctx, sdk.ListJobsRequest{Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	s := state{files: files.Data, modules: mods.Data, models: map[string]sdk.Model{}, jobs: map[string]sdk.Job{}}
	for _, m := range models.Data {
		s.models[m.ID] = m
	}
	for _, j := range jobs.Data {
		s.jobs[j.ID] = j
	}
	return s
}
