//go:build cgo

package train_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/sugarme/gotch"

	"github.com/whetml/whet/internal/protocol"
	"github.com/whetml/whet/internal/runspec"
	"github.com/whetml/whet/native/bert"
	"github.com/whetml/whet/native/checkpoint"
	"github.com/whetml/whet/native/reftest"
	"github.com/whetml/whet/native/torch"
	"github.com/whetml/whet/native/train"
)

const vocabSize = 40

// tinyModel writes a small random model folder and returns its path.
func tinyModel(t testing.TB, labels []string, mod func(*bert.Config)) string {
	t.Helper()
	cfg := bert.DefaultConfig()
	cfg.VocabSize, cfg.HiddenSize, cfg.NumHiddenLayers, cfg.NumAttentionHeads, cfg.IntermediateSize = vocabSize, 32, 2, 2, 64
	cfg.MaxPositionEmbeddings = 32
	cfg.SetLabels(labels)
	if mod != nil {
		mod(&cfg)
	}
	m, err := bert.New(cfg, bert.Options{Heads: bert.HeadClassifier, NumLabels: len(labels), Device: gotch.CPU, Seed: 1}, nil)
	if err != nil {
		t.Fatal(err)
	}
	tensors, err := m.Tensors()
	m.Close()
	if err != nil {
		t.Fatal(err)
	}
	words := []string{"[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"}
	for i := len(words); i < vocabSize; i++ {
		words = append(words, fmt.Sprintf("w%d", i))
	}
	vocab := []byte{}
	for _, w := range words {
		vocab = append(vocab, w+"\n"...)
	}
	dir := filepath.Join(t.TempDir(), "base")
	if err := checkpoint.WriteFolder(dir, checkpoint.SaveOptions{Config: cfg, Tensors: tensors, Vocab: vocab, DoLowerCase: true}); err != nil {
		t.Fatal(err)
	}
	return dir
}

// synthetic makes n rows: label "pos" when token 7 occurs, else "neg"; lengths 4..14.
func synthetic(n int, seed uint64) []train.Example {
	rng := rand.New(rand.NewPCG(seed, 1))
	out := make([]train.Example, n)
	for i := range out {
		l := 2 + rng.IntN(11)
		ids := []int32{2}
		pos := rng.IntN(2) == 0
		for j := range l {
			tok := int32(8 + rng.IntN(vocabSize-8))
			if pos && j == l/2 {
				tok = 7
			}
			ids = append(ids, tok)
		}
		ids = append(ids, 3)
		lab := "neg"
		if pos {
			lab = "pos"
		}
		out[i] = train.Example{InputIDs: ids, Label: lab, Source: fmt.Sprintf("synthetic:%d", i+1)}
	}
	return out
}

func TestTrainLearnsAndWritesFolders(t *testing.T) {
	torch.SetThreads(2)
	base := tinyModel(t, []string{"neg", "pos"}, nil)
	out := filepath.Join(t.TempDir(), "out")
	var events []protocol.Event
	res, err := train.Run(context.Background(), train.Config{
		ModelDir: base, OutDir: out, Train: synthetic(512, 1), Validation: synthetic(128, 2),
		Progress: func(e protocol.Event) { events = append(events, e) }, Hyperparameters: hp(func(h *runspec.Hyperparameters) {
			h.Epochs = 3
			h.BatchSize = 16
			h.LearningRate = 2e-3
			h.WarmupRatio = 0.1
			h.Seed = 3
		}),
	})
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(res.Metrics, &m); err != nil {
		t.Fatal(err)
	}
	acc := m["accuracy"].(float64)
	t.Logf("accuracy %.3f after %d steps, %.0f samples/s; first loss %.3f last %.3f", acc, res.GlobalStep, res.TrainSamplesPerSecond, res.Losses[0], res.Losses[len(res.Losses)-1])
	if acc < 0.9 {
		t.Errorf("accuracy %.3f < 0.9 on a trivially learnable task", acc)
	}
	if res.GlobalStep != 96 || len(res.Losses) != 96 {
		t.Errorf("steps = %d, losses %d, want 96", res.GlobalStep, len(res.Losses))
	}
	counts := map[string]int{}
	for _, e := range events {
		counts[e.Type]++
		if _, err := json.Marshal(e); err != nil {
			t.Errorf("event %+v does not marshal: %v", e, err)
		}
	}
	if counts[protocol.EventStep] != 96 || counts[protocol.EventEval] != 3 || counts[protocol.EventCheckpoint] != 3 || counts[protocol.EventDone] != 1 {
		t.Errorf("event counts = %v", counts)
	}
	for _, f := range []string{"config.json", "model.safetensors", "vocab.txt", "tokenizer_config.json", "trainer_state.json"} {
		if _, err := os.Stat(filepath.Join(out, f)); err != nil {
			t.Errorf("out folder lacks %s", f)
		}
	}
	cps, _ := os.ReadDir(filepath.Join(out, train.CheckpointsDir))
	if len(cps) < 1 || len(cps) > 2 {
		t.Errorf("%d checkpoints kept, want best and last only", len(cps))
	}
	f, err := checkpoint.ReadFolder(out)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(f.Config.Labels(), []string{"neg", "pos"}) || f.Config.Architectures[0] != bert.ArchSequenceClassification {
		t.Errorf("out config = %+v", f.Config)
	}
}

func TestTrainReproducible(t *testing.T) {
	torch.SetThreads(2)
	base := tinyModel(t, []string{"neg", "pos"}, nil)
	data := synthetic(200, 5)
	runOnce := func(seed int64) []float64 {
		res, err := train.Run(context.Background(), train.Config{
			ModelDir: base, OutDir: filepath.Join(t.TempDir(), "out"), Train: data, Threads: 2, Hyperparameters: hp(func(h *runspec.Hyperparameters) { h.Epochs = 1; h.BatchSize = 8; h.LearningRate = 1e-3; h.Seed = seed }),
		})
		if err != nil {
			t.Fatal(err)
		}
		return res.Losses
	}
	a, b, c := runOnce(11), runOnce(11), runOnce(12)
	if !reflect.DeepEqual(a, b) {
		t.Errorf("same seed, different losses:\n%v\n%v", a[:5], b[:5])
	}
	if reflect.DeepEqual(a, c) {
		t.Errorf("different seeds gave identical losses")
	}
}

func TestTrainCancel(t *testing.T) {
	torch.SetThreads(2)
	base := tinyModel(t, []string{"neg", "pos"}, nil)
	out := filepath.Join(t.TempDir(), "out")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	res, err := train.Run(ctx, train.Config{
		ModelDir: base, OutDir: out, Train: synthetic(400, 1), Progress: func(e protocol.Event) {
			if e.Type == protocol.EventStep && e.Step == 7 {
				cancel()
			}
		}, Hyperparameters: hp(func(h *runspec.Hyperparameters) { h.Epochs = 2; h.BatchSize = 8; h.LearningRate = 1e-3 }),
	})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
	if res == nil || res.GlobalStep != 7 {
		t.Fatalf("result = %+v, want step 7", res)
	}
	st, err := train.ReadTrainerState(res.LastCheckpoint)
	if err != nil {
		t.Fatal(err)
	}
	if st.GlobalStep != 7 || filepath.Base(res.LastCheckpoint) != "checkpoint-7" {
		t.Errorf("state = %+v at %s", st, res.LastCheckpoint)
	}
	// Resume from the cancel checkpoint finishes the run.
	res2, err := train.Run(context.Background(), train.Config{
		OutDir: out, Resume: res.LastCheckpoint, Train: synthetic(400, 1), Hyperparameters: hp(func(h *runspec.Hyperparameters) { h.Epochs = 2; h.BatchSize = 8; h.LearningRate = 1e-3 }),
	})
	if err != nil {
		t.Fatal(err)
	}
	if res2.GlobalStep != 100 || len(res2.Losses) != 93 {
		t.Errorf("resumed run: step %d with %d new losses, want 100 and 93", res2.GlobalStep, len(res2.Losses))
	}
}

// A run stopped and resumed from its checkpoint continues exactly as the run that was not stopped: weights, step,
// data order and AdamW's moments and bias correction all come back (no dropout, so nothing random is left). Without
// the optimizer state the resumed losses drift from the uninterrupted ones.
func TestResumeContinuesExactly(t *testing.T) {
	torch.SetThreads(2)
	base := tinyModel(t, []string{"neg", "pos"}, func(c *bert.Config) { c.HiddenDropoutProb, c.AttentionProbsDropoutProb = 0, 0 })
	cfg := func(out string) train.Config {
		return train.Config{ModelDir: base, OutDir: out, Train: synthetic(96, 1), Hyperparameters: hp(func(h *runspec.Hyperparameters) { h.Epochs = 2; h.BatchSize = 8; h.LearningRate = 3e-3; h.Seed = 4 })}
	}
	full, err := train.Run(context.Background(), cfg(filepath.Join(t.TempDir(), "full")))
	if err != nil {
		t.Fatal(err)
	}
	resumed := func(dropState bool) []float64 {
		out := filepath.Join(t.TempDir(), "stopped")
		res := stopAt(t, cfg(out), 9)
		if dropState {
			if err := os.Remove(filepath.Join(res.LastCheckpoint, train.OptimizerFile)); err != nil {
				t.Fatal(err)
			}
		}
		res2 := resume(t, cfg(out), res.LastCheckpoint)
		if _, err := os.Stat(filepath.Join(out, train.OptimizerFile)); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("output folder holds %s (err %v): it belongs in checkpoints only", train.OptimizerFile, err)
		}
		return res2.Losses
	}
	worst := func(got []float64) float64 {
		want := full.Losses[len(full.Losses)-len(got):]
		d := 0.0
		for i := range got {
			d = math.Max(d, math.Abs(got[i]-want[i]))
		}
		return d
	}
	got := resumed(false)
	if len(got) != len(full.Losses)-9 {
		t.Fatalf("resumed run logged %d losses, want %d", len(got), len(full.Losses)-9)
	}
	if d := worst(got); d > 1e-4 {
		t.Errorf("resumed losses differ from the uninterrupted run's by %g", d)
	}
	if d := worst(resumed(true)); d < 1e-3 {
		t.Errorf("without optimizer state the resumed losses still match (%g): the test cannot see the state", d)
	}
}

func TestTrainMultiClassWeightsAndNewLabels(t *testing.T) {
	torch.SetThreads(2)
	// The base model knows a/b; the data has x/y/z: a fresh 3-way head.
	base := tinyModel(t, []string{"a", "b"}, nil)
	data := synthetic(150, 9)
	for i := range data {
		data[i].Label = []string{"x", "y", "z"}[int(data[i].InputIDs[1])%3]
		if i%10 != 0 && data[i].Label == "z" {
			data[i].Label = "x" // make z rare
		}
	}
	res, err := train.Run(context.Background(), train.Config{
		ModelDir: base, OutDir: filepath.Join(t.TempDir(), "out"), Train: data, Validation: data[:30], Hyperparameters: hp(func(h *runspec.Hyperparameters) {
			h.Epochs = 1
			h.BatchSize = 16
			h.ClassWeights = "auto"
			h.MetricForBestModel = "macro_f1"
		}),
	})
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(res.Labels, []string{"x", "y", "z"}) {
		t.Errorf("labels = %v", res.Labels)
	}
	var m map[string]any
	_ = json.Unmarshal(res.Metrics, &m)
	if _, ok := m["macro_f1"]; !ok {
		t.Errorf("metrics = %s", res.Metrics)
	}
}

func TestTrainBadConfig(t *testing.T) {
	base := tinyModel(t, []string{"neg", "pos"}, nil)
	long := synthetic(3, 1)
	long[1].InputIDs = make([]int32, 40)
	bad := synthetic(3, 1)
	bad[2].InputIDs[1] = 999
	tests := []struct {
		name string
		cfg  train.Config
		want string
	}{
		{"no rows", train.Config{ModelDir: base, OutDir: "x", Hyperparameters: runspec.Default()}, "config field[Train]: no training rows"},
		{"no out", train.Config{ModelDir: base, Train: synthetic(2, 1), Hyperparameters: runspec.Default()}, "config field[OutDir]: required"},
		{"class weights", train.Config{ModelDir: base, OutDir: "x", Train: synthetic(2, 1), Hyperparameters: hp(func(h *runspec.Hyperparameters) { h.ClassWeights = "some" })}, "config hyperparameter class_weights"},
		{"too long", train.Config{ModelDir: base, OutDir: t.TempDir(), Train: long, Hyperparameters: runspec.Default()}, "training row synthetic:2: 40 tokens, more than max_position_embeddings 32"},
		{"bad id", train.Config{ModelDir: base, OutDir: t.TempDir(), Train: bad, Hyperparameters: runspec.Default()}, "training row synthetic:3: position 1: token id 999 outside the vocabulary (size 40)"},
		{"missing model", train.Config{ModelDir: filepath.Join(t.TempDir(), "nope"), OutDir: "x", Train: synthetic(2, 1), Hyperparameters: runspec.Default()}, "no such file"},
		{"bad metric", train.Config{ModelDir: base, OutDir: t.TempDir(), Train: synthetic(8, 1), Validation: synthetic(4, 2), Hyperparameters: hp(func(h *runspec.Hyperparameters) { h.Epochs = 1; h.MetricForBestModel = "auc" })}, "metric[auc]: not a number"},
		{"bad precision", train.Config{ModelDir: base, OutDir: "x", Train: synthetic(2, 1), Hyperparameters: hp(func(h *runspec.Hyperparameters) { h.Precision = "fp8" })}, `config hyperparameter precision: must be one of auto, fp32, bf16, fp16, got "fp8"`},
		{"fp16 on the CPU", train.Config{ModelDir: base, OutDir: t.TempDir(), Train: synthetic(2, 1), Hyperparameters: hp(func(h *runspec.Hyperparameters) { h.Precision = "fp16" }), Device: "cpu"}, "config hyperparameter precision: precision \"fp16\": float16 autocast needs a CUDA device; use bf16 or fp32 on the CPU"},
		{"bad device", train.Config{ModelDir: base, OutDir: "x", Train: synthetic(2, 1), Hyperparameters: runspec.Default(), Device: "gpu"}, "config field[Device]: device \"gpu\": want auto, cpu, cuda or cuda:N"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := train.Run(context.Background(), tt.cfg)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want containing %q", err, tt.want)
			}
		})
	}
}

// TestTrainBF16OnCPU: --precision bf16 on the CPU runs the forward pass under libtorch's bfloat16 autocast (1.13 and
// 2.x both have it): the losses differ from fp32's (bf16 really ran) but follow them to within bf16 rounding, and
// the weights it writes are float32.
func TestTrainBF16OnCPU(t *testing.T) {
	torch.SetThreads(2)
	base := tinyModel(t, []string{"neg", "pos"}, nil)
	run := func(precision string) (*train.Result, string) {
		out := filepath.Join(t.TempDir(), "out")
		res, err := train.Run(context.Background(), train.Config{
			ModelDir: base, OutDir: out, Train: synthetic(160, 1), Device: "cpu",
			Hyperparameters: hp(func(h *runspec.Hyperparameters) {
				h.Epochs, h.BatchSize, h.LearningRate, h.Seed, h.Precision = 1, 16, 2e-3, 3, precision
			}),
		})
		if err != nil {
			t.Fatalf("precision %s: %v", precision, err)
		}
		return res, out
	}
	fp32, _ := run("fp32")
	bf16, out := run("bf16")
	if reflect.DeepEqual(fp32.Losses, bf16.Losses) {
		t.Fatal("bf16 losses identical to fp32's: autocast did not act")
	}
	diff := 0.0
	for i := range fp32.Losses {
		diff = max(diff, math.Abs(fp32.Losses[i]-bf16.Losses[i]))
	}
	t.Logf("losses fp32 %.4v\nbf16 %.4v\nmax difference %.4f", fp32.Losses, bf16.Losses, diff)
	if diff > 0.02 {
		t.Errorf("bf16 losses differ from fp32's by up to %.4f, more than bf16 rounding explains", diff)
	}
	raw, err := os.ReadFile(filepath.Join(out, "model.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	if n := binary.LittleEndian.Uint64(raw[:8]); !strings.Contains(string(raw[8:8+n]), `"F32"`) || strings.Contains(string(raw[8:8+n]), "BF16") {
		t.Errorf("bf16 run wrote weights that are not all float32: %s", raw[8:min(8+n, 300)])
	}
}

// TestTrainMatchesPyTorch: without dropout, whet's optimizer steps (AdamW with two decay groups, clipping, linear
// decay) give the same losses as torch.optim.AdamW on the reference model.
func TestTrainMatchesPyTorch(t *testing.T) {
	reftest.SkipWithoutTorch(t)
	torch.SetThreads(1)
	base := tinyModel(t, []string{"neg", "pos"}, func(c *bert.Config) {
		c.HiddenDropoutProb, c.AttentionProbsDropoutProb = 0, 0
		c.InitializerRange = 0.2
	})
	data := synthetic(12, 4)
	ids := make([][]int32, len(data))
	labels := make([]int, len(data))
	for i, e := range data {
		ids[i] = e.InputIDs
		if e.Label == "pos" {
			labels[i] = 1
		}
	}
	pids, ptypes, mask := reftest.Pad(ids, nil, 0)
	var ref struct{ Losses []float64 }
	const steps = 4
	reftest.Run(t, "train", map[string]any{"model": base, "input_ids": pids, "token_type_ids": ptypes, "attention_mask": mask,
		"labels": labels, "steps": steps, "lr": 3e-3, "weight_decay": 0.1, "threads": 1, "max_grad_norm": 1.0}, &ref)
	res, err := train.Run(context.Background(), train.Config{
		ModelDir: base, OutDir: filepath.Join(t.TempDir(), "out2"), Train: data, Hyperparameters: hp(func(h *runspec.Hyperparameters) {
			h.BatchSize = len(data)
			h.Epochs = steps
			h.LearningRate = 3e-3
			h.WeightDecay = 0.1
		}),
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Losses) != steps {
		t.Fatalf("losses = %v", res.Losses)
	}
	for i := range ref.Losses {
		if d := math.Abs(res.Losses[i] - ref.Losses[i]); d > 1e-4 {
			t.Errorf("step %d loss whet %.6f vs PyTorch %.6f (diff %.2g)", i+1, res.Losses[i], ref.Losses[i], d)
		}
	}
	t.Logf("whet %v\ntorch %v", res.Losses, ref.Losses)
}

// A run with dropout and early stopping, stopped and resumed from a checkpoint, continues exactly as the run that
// was not stopped: every later step's loss, the final weights, the best checkpoint's metrics and the early stop are
// identical (the random generators, the data order, AdamW's state and the patience left all come back). It resumes
// from an evaluation checkpoint written before the stop (as after a crash) and from the cancel checkpoint.
func TestResumeWithDropoutIsExact(t *testing.T) {
	torch.SetThreads(2)
	base := tinyModel(t, []string{"neg", "pos"}, func(c *bert.Config) { c.HiddenDropoutProb, c.AttentionProbsDropoutProb = 0.2, 0.2 })
	cfg := func(out string) train.Config {
		return train.Config{ModelDir: base, OutDir: out, Train: synthetic(96, 1), Validation: synthetic(24, 2), Hyperparameters: hp(func(h *runspec.Hyperparameters) {
			h.Epochs = 3
			h.BatchSize = 8
			h.LearningRate = 3e-3
			h.Seed = 4
			h.EvalEvery = 5
			h.EarlyStoppingPatience = 2
			h.MetricForBestModel = "loss"
		})}
	}
	fullOut := filepath.Join(t.TempDir(), "full")
	full, err := train.Run(context.Background(), cfg(fullOut))
	if err != nil {
		t.Fatal(err)
	}
	if full.GlobalStep < 14 {
		t.Fatalf("the uninterrupted run stopped at step %d: too early for the test", full.GlobalStep)
	}
	t.Logf("uninterrupted run: %d steps, stopped early %v, best %s", full.GlobalStep, full.StoppedEarly, filepath.Base(full.BestCheckpoint))
	out := filepath.Join(t.TempDir(), "stopped")
	stopAt(t, cfg(out), 13)
	for _, from := range []int{10, 13} {
		t.Run(fmt.Sprintf("checkpoint-%d", from), func(t *testing.T) {
			// Each resume gets its own copy of the stopped run's folder (a resume writes into it).
			dir := filepath.Join(t.TempDir(), "stopped")
			if err := os.CopyFS(dir, os.DirFS(out)); err != nil {
				t.Fatal(err)
			}
			c := cfg(dir)
			var steps []int
			c.Progress = func(e protocol.Event) {
				if e.Type == protocol.EventStep {
					steps = append(steps, e.Step)
				}
			}
			res := resume(t, c, filepath.Join(dir, train.CheckpointsDir, fmt.Sprintf("checkpoint-%d", from)))
			if len(steps) == 0 || steps[0] != from+1 {
				t.Errorf("resumed steps %v, want them to start at %d", steps, from+1)
			}
			want := full.Losses[from:]
			if !reflect.DeepEqual(res.Losses, want) {
				t.Errorf("resumed losses differ from the uninterrupted run's:\n got %v\nwant %v", res.Losses, want)
			}
			if res.GlobalStep != full.GlobalStep || res.StoppedEarly != full.StoppedEarly {
				t.Errorf("resumed run ended at step %d (stopped early %v), the uninterrupted one at %d (%v)",
					res.GlobalStep, res.StoppedEarly, full.GlobalStep, full.StoppedEarly)
			}
			if string(res.Metrics) != string(full.Metrics) {
				t.Errorf("metrics differ:\n got %s\nwant %s", res.Metrics, full.Metrics)
			}
			got, err := os.ReadFile(filepath.Join(dir, checkpoint.SafetensorsFile))
			if err != nil {
				t.Fatal(err)
			}
			wantW, err := os.ReadFile(filepath.Join(fullOut, checkpoint.SafetensorsFile))
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, wantW) {
				t.Error("the resumed run's final weights differ from the uninterrupted run's")
			}
			if _, err := os.Stat(filepath.Join(dir, train.RNGStateFile)); !errors.Is(err, fs.ErrNotExist) {
				t.Errorf("output folder holds %s (err %v): it belongs in checkpoints only", train.RNGStateFile, err)
			}
		})
	}
}

// stopAt runs c until it reports step `step`, cancels it there and returns the stopped run's result (a resume starts
// from its LastCheckpoint).
func stopAt(t *testing.T, c train.Config, step int) *train.Result {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	c.Progress = func(e protocol.Event) {
		if e.Type == protocol.EventStep && e.Step == step {
			cancel()
		}
	}
	res, err := train.Run(ctx, c)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
	return res
}

// resume runs c from the checkpoint folder dir as `whet train --resume` does: the base model and the LoRA options
// come from the checkpoint.
func resume(t *testing.T, c train.Config, dir string) *train.Result {
	t.Helper()
	c.ModelDir, c.LoRA, c.Resume = "", nil, dir
	res, err := train.Run(context.Background(), c)
	if err != nil {
		t.Fatal(err)
	}
	return res
}

// hp returns the default hyperparameters with change applied.
func hp(change func(h *runspec.Hyperparameters)) runspec.Hyperparameters {
	h := runspec.Default()
	change(&h)
	return h
}
