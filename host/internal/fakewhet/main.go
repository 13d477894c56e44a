// Command fakewhet stands in for the real whet binary in host tests. It speaks the same subprocess protocols
// (docs/contracts.md) without libtorch: `fakewhet train ... --progress json` emits NDJSON progress on stderr,
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
//	FAKEWHET_IGNORE_INT   ignore SIGINT (to test the SIGKILL grace)
//	FAKEWHET_PREDICT_DELAY_MS  sleep per predict request (to let batches form)
//	FAKEWHET_EVAL_DELAY_MS     eval: sleep this long before answering
//	FAKEWHET_EVAL_MARK         eval: create a file named by its pid in this folder first
package main

import (
	"bufio"
	"encoding/json"
	"flag"
	"fmt"
	"hash/fnv"
	"math"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
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

func emit(v map[string]any) {
	b, _ := json.Marshal(v)
	os.Stderr.Write(append(b, '\n'))
}

func envInt(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil {
		return v
	}
	return def
}

func train(args []string) error {
	fs := flag.NewFlagSet("train", flag.ContinueOnError)
	model := fs.String("model", "", "")
	trainFile := fs.String("train", "", "")
	validation := fs.String("validation", "", "")
	out := fs.String("out", "", "")
	progress := fs.String("progress", "bar", "")
	resume := fs.String("resume", "", "")
	fs.Int("epochs", 3, "")
	fs.Int("batch-size", 32, "")
	fs.Float64("learning-rate", 3e-5, "")
	fs.Int("max-seq-length", 128, "")
	fs.Float64("warmup-ratio", 0.1, "")
	fs.Float64("weight-decay", 0.01, "")
	fs.Int64("seed", 42, "")
	fs.Int("max-steps", 0, "")
	fs.Int("threads", 0, "")
	fs.Int("grad-accum", 1, "")
	fs.Float64("max-grad-norm", 1, "")
	fs.Int("eval-every", 0, "")
	fs.Int("early-stopping-patience", 0, "")
	fs.String("metric-for-best-model", "", "")
	fs.String("class-weights", "", "")
	fs.String("preprocess-module", "", "")
	fs.String("evaluate-module", "", "")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *progress != "json" {
		return fmt.Errorf("--progress json expected, got %q", *progress)
	}
	if msg := os.Getenv("FAKEWHET_FAIL"); msg != "" {
		emit(map[string]any{"type": "log", "level": "error", "message": msg})
		os.Exit(1)
	}
	for _, f := range []string{*trainFile, *validation} {
		if f == "" {
			continue
		}
		if _, err := os.Stat(f); err != nil {
			return fmt.Errorf("data file: %w", err)
		}
	}
	cfgRaw, err := os.ReadFile(filepath.Join(*model, "config.json"))
	if err != nil {
		return fmt.Errorf("model: %w", err)
	}
	sigs := make(chan os.Signal, 1)
	if os.Getenv("FAKEWHET_IGNORE_INT") != "" {
		signal.Ignore(os.Interrupt, syscall.SIGTERM)
	} else {
		signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	}
	start := 0
	if *resume != "" {
		raw, err := os.ReadFile(filepath.Join(*resume, "trainer_state.json"))
		if err != nil {
			return fmt.Errorf("resume: %w", err)
		}
		var st struct {
			GlobalStep int `json:"global_step"`
		}
		if err := json.Unmarshal(raw, &st); err != nil {
			return fmt.Errorf("resume: %w", err)
		}
		start = st.GlobalStep
		emit(map[string]any{"type": "log", "level": "info", "message": fmt.Sprintf("resumed from step %d", start)})
	}
	total := envInt("FAKEWHET_STEPS", 4)
	blockAt := envInt("FAKEWHET_BLOCK_AT", -1)
	if cond := os.Getenv("FAKEWHET_BLOCK_IF"); cond != "" {
		if _, err := os.Stat(cond); err != nil {
			blockAt = -1
		}
	}
	checkpoint := func(step int) string {
		dir := filepath.Join(*out, "checkpoints", fmt.Sprintf("checkpoint-%d", step))
		os.MkdirAll(dir, 0o755)
		os.WriteFile(filepath.Join(dir, "config.json"), cfgRaw, 0o644)
		os.WriteFile(filepath.Join(dir, "model.safetensors"), []byte("weights"), 0o644)
		state, _ := json.Marshal(map[string]any{"global_step": step, "epoch": float64(step) / float64(total)})
		os.WriteFile(filepath.Join(dir, "trainer_state.json"), state, 0o644)
		emit(map[string]any{"type": "checkpoint", "step": step, "epoch": float64(step) / float64(total),
			"path": dir, "metrics": map[string]any{"accuracy": 0.5}, "best": true})
		return dir
	}
	for step := start + 1; step <= total; step++ {
		select {
		case <-sigs:
			checkpoint(step - 1)
			emit(map[string]any{"type": "log", "level": "warn", "message": "interrupted"})
			os.Exit(130)
		default:
		}
		emit(map[string]any{"type": "step", "step": step, "total_steps": total, "epoch": float64(step) / float64(total),
			"loss": 0.7 / float64(step), "learning_rate": 3e-5, "samples_per_second": 100.0})
		fmt.Fprintln(os.Stderr, "plain log line at step", step)
		if step == blockAt {
			if mark := os.Getenv("FAKEWHET_MARK"); mark != "" {
				os.WriteFile(mark, []byte(strconv.Itoa(os.Getpid())), 0o644)
			}
			checkpoint(step) // after the mark: a reader who saw the checkpoint finds the mark
			if os.Getenv("FAKEWHET_IGNORE_INT") != "" {
				select {}
			}
			<-sigs
			emit(map[string]any{"type": "log", "level": "warn", "message": "interrupted"})
			os.Exit(130)
		}
	}
	metrics := map[string]any{"accuracy": 0.75, "macro_f1": 0.7}
	emit(map[string]any{"type": "eval", "step": total, "epoch": 1.0, "metrics": metrics})
	checkpoint(total)
	os.WriteFile(filepath.Join(*out, "config.json"), cfgRaw, 0o644)
	os.WriteFile(filepath.Join(*out, "model.safetensors"), []byte("weights"), 0o644)
	for _, name := range []string{"vocab.txt", "tokenizer_config.json"} { // a model folder carries its tokenizer
		if b, err := os.ReadFile(filepath.Join(*model, name)); err == nil {
			os.WriteFile(filepath.Join(*out, name), b, 0o644)
		}
	}
	emit(map[string]any{"type": "done", "metrics": metrics, "train_samples_per_second": 100.0})
	b, _ := json.Marshal(map[string]any{"accuracy": 0.75, "macro_f1": 0.7, "train_samples_per_second": 100.0})
	fmt.Println(string(b))
	return nil
}

// eval prints {"accuracy","support"}: support = the input's lines, accuracy fixed; a row whose label is
// "unknown" is rejected like whet eval rejects labels the model does not know.
func eval(args []string) error {
	fs := flag.NewFlagSet("eval", flag.ContinueOnError)
	fs.String("model", "", "")
	input := fs.String("input", "", "")
	fs.Int("threads", 0, "")
	fs.String("text-column", "", "")
	fs.String("label-column", "", "")
	if err := fs.Parse(args); err != nil {
		return err
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
	if err := fs.Parse(args); err != nil {
		return err
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
	out := bufio.NewWriter(os.Stdout)
	enc := json.NewEncoder(out)
	enc.Encode(map[string]any{"ready": true, "labels": labels, "max_seq_length": 128})
	out.Flush()
	delay := time.Duration(envInt("FAKEWHET_PREDICT_DELAY_MS", 0)) * time.Millisecond
	sc := bufio.NewScanner(os.Stdin)
	sc.Buffer(make([]byte, 1<<20), 64<<20)
	for sc.Scan() {
		var req struct {
			ID     int64    `json:"id"`
			Inputs []string `json:"inputs"`
		}
		if err := json.Unmarshal(sc.Bytes(), &req); err != nil {
			enc.Encode(map[string]any{"id": req.ID, "error": "bad request: " + err.Error()})
			out.Flush()
			continue
		}
		time.Sleep(delay)
		results := []map[string]any{}
		for _, text := range req.Inputs {
			if strings.Contains(text, "FAIL") {
				results = nil
				break
			}
			results = append(results, classify(text, labels))
		}
		if results == nil {
			enc.Encode(map[string]any{"id": req.ID, "error": "input contains FAIL"})
		} else {
			enc.Encode(map[string]any{"id": req.ID, "results": results})
		}
		out.Flush()
	}
	return sc.Err()
}

// classify gives each label a logit from a hash of the text, so results are deterministic.
func classify(text string, labels []string) map[string]any {
	logits := make([]float64, len(labels))
	var sum float64
	best := 0
	for i, l := range labels {
		h := fnv.New32a()
		h.Write([]byte(l + "\x00" + text))
		logits[i] = float64(h.Sum32()%1000) / 250
		if logits[i] > logits[best] {
			best = i
		}
	}
	scores := map[string]float64{}
	for _, lg := range logits {
		sum += math.Exp(lg)
	}
	for i, l := range labels {
		scores[l] = math.Exp(logits[i]) / sum
	}
	return map[string]any{"label": labels[best], "score": scores[labels[best]], "scores": scores, "logits": logits}
}
