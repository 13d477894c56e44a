// Command fakewhet stands in for the real whet binary in host tests. It speaks the same subprocess protocols
// (docs/contracts.md) without libtorch: `fakewhet train --spec FILE --progress json` emits NDJSON progress on stderr,
// writes checkpoints and a model folder, and prints a summary on stdout; `fakewhet worker predict --model DIR`
// answers NDJSON predict requests deterministically (the label is chosen by a hash of the text).
//
// Behaviour is steered by environment variables, for tests only:
//
//	FAKEWHET_STEPS        total steps (default 4)
//	FAKEWHET_BLOCK_AT     after emitting this step, create FAKEWHET_MARK (holding the pid) and block until SIGINT
//	FAKEWHET_MARK         marker file path for FAKEWHET_BLOCK_AT
//	FAKEWHET_BLOCK_IF     block (FAKEWHET_BLOCK_AT) only while this file exists
//	FAKEWHET_FAIL         fail at the start with this error message (exit 1)
//	FAKEWHET_FAIL_CODE    the error event's code for FAKEWHET_FAIL (default training_failed)
//	FAKEWHET_IGNORE_INT   ignore SIGINT (to test the SIGKILL grace)
//	FAKEWHET_PREDICT_DELAY_MS  sleep per predict request (to let batches form)
//	FAKEWHET_EVAL_DELAY_MS     eval: sleep this long before answering
//	FAKEWHET_EVAL_MARK         eval: create a file named by its pid in this folder first
//	FAKEWHET_STEP_DELAY_MS     sleep per training step (a job that lasts a while)
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/whetml/whet/host/modeldir"
	"github.com/whetml/whet/internal/protocol"
	"github.com/whetml/whet/internal/protocol/protocoltest"
	"github.com/whetml/whet/internal/runspec"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: fakewhet train|worker predict")
		os.Exit(2)
	}
	var err error
	switch os.Args[1] {
	case "train":
		err = train(os.Args[2:])
	case "eval":
		err = eval(os.Args[2:])
	case "worker":
		if len(os.Args) < 3 || os.Args[2] != "predict" {
			err = fmt.Errorf("unknown worker %v", os.Args[2:])
		} else {
			err = predict(os.Args[3:])
		}
	default:
		err = fmt.Errorf("unknown command %q", os.Args[1])
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "fakewhet:", err)
		os.Exit(1)
	}
}

func emit(e protocol.Event) {
	b, _ := json.Marshal(e)
	os.Stderr.Write(append(b, '\n'))
}

func envInt(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil {
		return v
	}
	return def
}

func train(args []string) error {
	spec, resume, err := trainSpec(args)
	if err != nil {
		return err
	}
	cfgRaw, err := os.ReadFile(filepath.Join(spec.Model, "config.json"))
	if err != nil {
		return fmt.Errorf("model: %w", err)
	}
	sigs := make(chan os.Signal, 1)
	if os.Getenv("FAKEWHET_IGNORE_INT") != "" {
		signal.Ignore(os.Interrupt, syscall.SIGTERM)
	} else {
		signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	}
	start, err := resumeStep(resume)
	if err != nil {
		return err
	}
	r := run{out: spec.OutputDir, cfgRaw: cfgRaw, total: envInt("FAKEWHET_STEPS", 4)}
	r.steps(start, sigs)
	metrics := json.RawMessage(`{"accuracy":0.75,"macro_f1":0.7}`)
	emit(protocol.Event{Type: protocol.EventEval, Step: r.total, Epoch: 1, Metrics: metrics})
	r.checkpoint(r.total)
	writeModel(spec, cfgRaw)
	emit(protocol.Event{Type: protocol.EventDone, Metrics: metrics, TrainSamplesPerSecond: 100})
	b, _ := json.Marshal(protocol.TrainSummary{Metrics: metrics, TrainSamplesPerSecond: 100, GlobalStep: r.total, Epoch: 1, OutputDir: r.out})
	fmt.Println(string(b))
	return nil
}

// trainSpec parses train's flags and reads the run spec, exiting like whet train on an invalid spec or
// FAKEWHET_FAIL; it writes the spec into the output folder and returns it with --resume.
func trainSpec(args []string) (runspec.Spec, string, error) {
	fs := flag.NewFlagSet("train", flag.ContinueOnError)
	specFile := fs.String("spec", "", "")
	progress := fs.String("progress", "bar", "")
	resume := fs.String("resume", "", "")
	fs.Int("threads", 0, "")
	device := fs.String("device", "", "")
	if err := fs.Parse(args); err != nil {
		return runspec.Spec{}, "", err
	}
	if *progress != "json" {
		return runspec.Spec{}, "", fmt.Errorf("--progress json expected, got %q", *progress)
	}
	if *device != "" { // what a GPU worker asked for (whet worker --gpus)
		emit(protocol.Event{Type: protocol.EventLog, Level: "info", Message: fmt.Sprintf("device %s (WHET_DEVICE=%s)", *device, os.Getenv("WHET_DEVICE"))})
	}
	spec, err := runspec.Read(*specFile)
	if err != nil {
		return runspec.Spec{}, "", err
	}
	if err := spec.Validate(); err != nil {
		emit(protocol.Event{Type: protocol.EventError, Code: protocol.CodeInvalidHyperparameters, Message: err.Error()})
		os.Exit(1)
	}
	if msg := os.Getenv("FAKEWHET_FAIL"); msg != "" {
		code := os.Getenv("FAKEWHET_FAIL_CODE")
		if code == "" {
			code = protocol.CodeTrainingFailed
		}
		emit(protocol.Event{Type: protocol.EventError, Code: code, Message: msg})
		os.Exit(1)
	}
	for _, f := range []string{spec.TrainFile, spec.ValidationFile} {
		if f == "" {
			continue
		}
		if _, err := os.Stat(f); err != nil {
			return runspec.Spec{}, "", fmt.Errorf("data file: %w", err)
		}
	}
	if err := os.WriteFile(filepath.Join(spec.OutputDir, runspec.FileName), spec.JSON(), 0o644); err != nil {
		return runspec.Spec{}, "", err
	}
	return spec, *resume, nil
}

// resumeStep returns the global step of the checkpoint folder dir ("": 0).
func resumeStep(dir string) (int, error) {
	if dir == "" {
		return 0, nil
	}
	raw, err := os.ReadFile(filepath.Join(dir, "trainer_state.json"))
	if err != nil {
		return 0, fmt.Errorf("resume: %w", err)
	}
	var st struct {
		GlobalStep int `json:"global_step"`
	}
	if err := json.Unmarshal(raw, &st); err != nil {
		return 0, fmt.Errorf("resume: %w", err)
	}
	emit(protocol.Event{Type: protocol.EventLog, Level: "info", Message: fmt.Sprintf("resumed from step %d", st.GlobalStep)})
	return st.GlobalStep, nil
}

// run is a fake training run writing into out.
type run struct {
	out    string
	cfgRaw []byte // the model's config.json
	total  int    // steps
}

// checkpoint writes the checkpoint of step and reports it.
func (r run) checkpoint(step int) string {
	dir := filepath.Join(r.out, "checkpoints", fmt.Sprintf("checkpoint-%d", step))
	os.MkdirAll(dir, 0o755)
	os.WriteFile(filepath.Join(dir, "config.json"), r.cfgRaw, 0o644)
	os.WriteFile(filepath.Join(dir, "model.safetensors"), []byte("weights"), 0o644)
	state, _ := json.Marshal(map[string]any{"global_step": step, "epoch": float64(step) / float64(r.total)})
	os.WriteFile(filepath.Join(dir, "trainer_state.json"), state, 0o644)
	emit(protocol.Event{Type: protocol.EventCheckpoint, Step: step, Epoch: float64(step) / float64(r.total),
		Path: dir, Metrics: json.RawMessage(`{"accuracy":0.5}`), Best: true})
	return dir
}

// steps reports the steps after start, exiting 130 on a signal (FAKEWHET_BLOCK_AT: after blocking for one).
func (r run) steps(start int, sigs <-chan os.Signal) {
	blockAt := envInt("FAKEWHET_BLOCK_AT", -1)
	if cond := os.Getenv("FAKEWHET_BLOCK_IF"); cond != "" {
		if _, err := os.Stat(cond); err != nil {
			blockAt = -1
		}
	}
	for step := start + 1; step <= r.total; step++ {
		select {
		case <-sigs:
			r.checkpoint(step - 1)
			emit(protocol.Event{Type: protocol.EventLog, Level: "warn", Message: "interrupted"})
			os.Exit(130)
		default:
		}
		time.Sleep(time.Duration(envInt("FAKEWHET_STEP_DELAY_MS", 0)) * time.Millisecond)
		emit(protocol.Event{Type: protocol.EventStep, Step: step, TotalSteps: r.total, Epoch: float64(step) / float64(r.total),
			Loss: 0.7 / float64(step), LearningRate: 3e-5, SamplesPerSecond: 100})
		fmt.Fprintln(os.Stderr, "plain log line at step", step)
		if step == blockAt {
			r.checkpoint(step)
			if mark := os.Getenv("FAKEWHET_MARK"); mark != "" { // after the checkpoint event: killed at the mark, it was reported
				os.WriteFile(mark, []byte(strconv.Itoa(os.Getpid())), 0o644)
			}
			if os.Getenv("FAKEWHET_IGNORE_INT") != "" {
				select {}
			}
			<-sigs
			emit(protocol.Event{Type: protocol.EventLog, Level: "warn", Message: "interrupted"})
			os.Exit(130)
		}
	}
}

// writeModel writes the output model folder: weights, config and what a model folder carries besides (its
// tokenizer, the length and the preprocess module it was trained with).
func writeModel(spec runspec.Spec, cfgRaw []byte) {
	out := spec.OutputDir
	os.WriteFile(filepath.Join(out, "config.json"), cfgRaw, 0o644)
	os.WriteFile(filepath.Join(out, "model.safetensors"), []byte("weights"), 0o644)
	if b, err := os.ReadFile(filepath.Join(spec.Model, modeldir.VocabFile)); err == nil {
		os.WriteFile(filepath.Join(out, modeldir.VocabFile), b, 0o644)
	}
	tc := map[string]any{}
	if b, err := os.ReadFile(filepath.Join(spec.Model, modeldir.TokenizerConfigFile)); err == nil {
		json.Unmarshal(b, &tc)
	}
	tc[modeldir.ModelMaxLengthKey] = spec.MaxSeqLength
	b, _ := json.Marshal(tc)
	os.WriteFile(filepath.Join(out, modeldir.TokenizerConfigFile), b, 0o644)
	if spec.PreprocessModule != "" {
		if b, err := os.ReadFile(spec.PreprocessModule); err == nil {
			os.WriteFile(filepath.Join(out, modeldir.PreprocessModuleFile), b, 0o644)
		}
	}
}

// eval prints {"accuracy","support"}: support = the input's lines, accuracy fixed; a row whose label is
// "unknown" is rejected like whet eval rejects labels the model does not know. An adapter folder needs --base (a
// folder with config.json).
func eval(args []string) error {
	fs := flag.NewFlagSet("eval", flag.ContinueOnError)
	model := fs.String("model", "", "")
	base := fs.String("base", "", "")
	input := fs.String("input", "", "")
	fs.Int("threads", 0, "")
	fs.String("text-column", "", "")
	fs.String("label-column", "", "")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if _, err := os.Stat(filepath.Join(*model, "adapter_config.json")); err == nil {
		if _, err := os.Stat(filepath.Join(*base, "config.json")); err != nil {
			return fmt.Errorf("adapter %s: --base is not a model folder: %w", *model, err)
		}
	}
	raw, err := os.ReadFile(*input)
	if err != nil {
		return err
	}
	if dir := os.Getenv("FAKEWHET_EVAL_MARK"); dir != "" {
		if err := os.WriteFile(filepath.Join(dir, strconv.Itoa(os.Getpid())), nil, 0o644); err != nil {
			return err
		}
	}
	time.Sleep(time.Duration(envInt("FAKEWHET_EVAL_DELAY_MS", 0)) * time.Millisecond)
	lines := strings.Split(strings.TrimSpace(string(raw)), "\n")
	for i, l := range lines {
		if strings.Contains(l, `"label":"unknown"`) {
			fmt.Fprintf(os.Stderr, "whet eval: %s:%d: field \"label\": label \"unknown\" is not one of the model's labels\n", *input, i+1)
			os.Exit(1)
		}
	}
	b, _ := json.Marshal(map[string]any{"accuracy": 0.75, "support": len(lines)})
	fmt.Println(string(b))
	return nil
}

func predict(args []string) error {
	fs := flag.NewFlagSet("predict", flag.ContinueOnError)
	model := fs.String("model", "", "")
	fs.Int("threads", 0, "")
	quantize := fs.String("quantize", "none", "")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if want := os.Getenv("FAKEWHET_WANT_QUANTIZE"); want != "" && *quantize != want { // what the pool passed on
		return fmt.Errorf("worker started with --quantize %s, want %s", *quantize, want)
	}
	raw, err := os.ReadFile(filepath.Join(*model, "config.json"))
	if err != nil {
		return fmt.Errorf("model: %w", err)
	}
	var cfg struct {
		ID2Label map[string]string `json:"id2label"`
	}
	if err := json.Unmarshal(raw, &cfg); err != nil {
		return err
	}
	labels := make([]string, len(cfg.ID2Label))
	for k, v := range cfg.ID2Label {
		i, _ := strconv.Atoi(k)
		labels[i] = v
	}
	if len(labels) < 2 {
		return fmt.Errorf("model has fewer than 2 labels")
	}
	m := &protocoltest.HashModel{Names: labels, MaxLen: 128, Adapters: true,
		Delay: time.Duration(envInt("FAKEWHET_PREDICT_DELAY_MS", 0)) * time.Millisecond}
	return protocol.Serve(context.Background(), m, os.Stdin, os.Stdout)
}
