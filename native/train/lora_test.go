//go:build cgo

package train_test

import (
	"context"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/sugarme/gotch"

	"github.com/whetml/whet/internal/runspec"
	"github.com/whetml/whet/native/bert"
	"github.com/whetml/whet/native/checkpoint"
	"github.com/whetml/whet/native/infer"
	"github.com/whetml/whet/native/reftest"
	"github.com/whetml/whet/native/torch"
	"github.com/whetml/whet/native/train"
)

// noDropout makes a tiny model deterministic in training (the references have no dropout layers).
func noDropout(c *bert.Config) {
	c.HiddenDropoutProb, c.AttentionProbsDropoutProb = 0, 0
	c.InitializerRange = 0.2
}

// loadBase loads a model folder as the trainer does (classifier head, seed).
func loadBase(t *testing.T, dir string, seed uint64) *bert.Model {
	t.Helper()
	f, err := checkpoint.ReadFolder(dir)
	if err != nil {
		t.Fatal(err)
	}
	n := len(f.Config.Labels())
	vals, _, err := f.Match(f.Config, bert.HeadClassifier, n)
	if err != nil {
		t.Fatal(err)
	}
	m, err := bert.New(f.Config, bert.Options{Heads: bert.HeadClassifier, NumLabels: n, Device: gotch.CPU, Seed: seed}, vals)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// whetLogits runs rows through base + the adapter folder dir (nil dir: the base alone).
func whetLogits(t *testing.T, base, dir string, ids [][]int32) [][]float32 {
	t.Helper()
	m := loadBase(t, base, 0)
	defer m.Close()
	opts := infer.Options{}
	if dir != "" {
		a, _, err := infer.LoadAdapter(m, dir)
		if err != nil {
			t.Fatal(err)
		}
		defer a.Close()
		opts.Adapter = a
	}
	out, err := infer.New(m, opts).Logits(context.Background(), ids, nil)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func worstDiff(t *testing.T, a, b [][]float32) float64 {
	t.Helper()
	if len(a) != len(b) {
		t.Fatalf("%d rows vs %d", len(a), len(b))
	}
	w := 0.0
	for i := range a {
		if len(a[i]) != len(b[i]) {
			t.Fatalf("row %d: %d logits vs %d", i, len(a[i]), len(b[i]))
		}
		for j := range a[i] {
			w = math.Max(w, math.Abs(float64(a[i][j]-b[i][j])))
		}
	}
	return w
}

func refLogits(t *testing.T, base, adapter string, ids [][]int32) [][]float32 {
	t.Helper()
	pids, ptypes, mask := reftest.Pad(ids, nil, 0)
	var ref struct{ Logits [][]float32 }
	reftest.RunLoRA(t, "forward", map[string]any{"model": base, "adapter": adapter, "input_ids": pids, "token_type_ids": ptypes,
		"attention_mask": mask, "threads": 1}, &ref)
	return ref.Logits
}

func rowsOf(data []train.Example) [][]int32 {
	ids := make([][]int32, len(data))
	for i, e := range data {
		ids[i] = e.InputIDs
	}
	return ids
}

// A LoRA run trains the adapter and classifier only, reports trainable vs total parameters, learns the task, and
// writes peft's folder: adapter_config.json with peft's keys, adapter_model.safetensors with metadata
// {"format":"pt"} and peft's tensor names and shapes, plus whet's labels file and the tokenizer.
func TestLoRATrainWritesPeftAdapter(t *testing.T) {
	torch.SetThreads(2)
	base := tinyModel(t, []string{"neg", "pos"}, nil)
	out := filepath.Join(t.TempDir(), "out")
	res, err := train.Run(context.Background(), train.Config{
		ModelDir: base, OutDir: out, Train: synthetic(384, 1), Validation: synthetic(64, 2),
		LoRA: &train.LoRAOptions{LoRA: bert.LoRA{R: 4, Alpha: 8, Dropout: 0.1}}, Hyperparameters: hp(func(h *runspec.Hyperparameters) { h.Epochs = 3; h.BatchSize = 16; h.LearningRate = 2e-2; h.Seed = 3 }),
	})
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	_ = json.Unmarshal(res.Metrics, &m)
	t.Logf("LoRA accuracy %v, trainable %d of %d", m["accuracy"], res.TrainableParams, res.TotalParams)
	if acc, _ := m["accuracy"].(float64); acc < 0.85 {
		t.Errorf("accuracy %v < 0.85 on a trivially learnable task", m["accuracy"])
	}
	// 2 layers x (query, value) x (A [4,32] + B [32,4]) + classifier [2,32] + [2].
	if want := int64(2*2*(4*32+32*4) + 2*32 + 2); res.TrainableParams != want {
		t.Errorf("trainable params = %d, want %d", res.TrainableParams, want)
	}
	full := loadBase(t, base, 0)
	total := bert.CountParams(full.Parameters())
	full.Close()
	if res.TotalParams != total+res.TrainableParams {
		t.Errorf("total params = %d, want %d", res.TotalParams, total+res.TrainableParams)
	}

	var cfg map[string]any
	b, err := os.ReadFile(filepath.Join(out, checkpoint.AdapterConfigFile))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &cfg); err != nil {
		t.Fatal(err)
	}
	abs, _ := filepath.Abs(base)
	want := map[string]any{"peft_type": "LORA", "task_type": "SEQ_CLS", "base_model_name_or_path": abs, "r": 4.0,
		"lora_alpha": 8.0, "lora_dropout": 0.1, "target_modules": []any{"query", "value"}, "modules_to_save": []any{"classifier"},
		"bias": "none", "fan_in_fan_out": false, "inference_mode": true}
	if !reflect.DeepEqual(cfg, want) {
		t.Errorf("adapter_config.json = %v\nwant %v", cfg, want)
	}
	raws, meta, err := checkpoint.ReadSafetensors(filepath.Join(out, checkpoint.AdapterWeightsFile))
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(meta, map[string]string{"format": "pt"}) {
		t.Errorf("metadata = %v", meta)
	}
	got := map[string][]int64{}
	for _, r := range raws {
		got[r.Name] = r.Shape
		if r.DType != checkpoint.DTypeF32 {
			t.Errorf("%s: dtype %s", r.Name, r.DType)
		}
	}
	wantShapes := map[string][]int64{
		"base_model.model.classifier.weight": {2, 32}, "base_model.model.classifier.bias": {2},
	}
	for _, l := range []string{"0", "1"} {
		for _, s := range []string{"query", "value"} {
			p := "base_model.model.bert.encoder.layer." + l + ".attention.self." + s
			wantShapes[p+".lora_A.weight"] = []int64{4, 32}
			wantShapes[p+".lora_B.weight"] = []int64{32, 4}
		}
	}
	if !reflect.DeepEqual(got, wantShapes) {
		t.Errorf("adapter tensors = %v\nwant %v", got, wantShapes)
	}
	for _, f := range []string{checkpoint.AdapterLabelsFile, "vocab.txt", "tokenizer_config.json", "trainer_state.json"} {
		if _, err := os.Stat(filepath.Join(out, f)); err != nil {
			t.Errorf("out folder lacks %s", f)
		}
	}
	for _, f := range []string{"config.json", "model.safetensors", train.OptimizerFile} {
		if _, err := os.Stat(filepath.Join(out, f)); err == nil {
			t.Errorf("adapter folder holds %s", f)
		}
	}
	a, err := checkpoint.ReadAdapter(out)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(a.Labels, []string{"neg", "pos"}) {
		t.Errorf("labels = %v", a.Labels)
	}
}

// Logits of base + adapter equal the PyTorch reference's (peft's math) within 1e-4, for an adapter whet trained and
// for adapters the reference wrote in peft's layout (peft's extra config keys, "score" in modules_to_save; a regex
// target, rsLoRA, a saved pooler, a 3-label head on a 2-label base; every Embedding table as a target); merging
// gives the same logits within 1e-5.
func TestLoRALogitsMatchReferenceAndMerge(t *testing.T) {
	reftest.SkipWithoutTorch(t)
	torch.SetThreads(1)
	base := tinyModel(t, []string{"neg", "pos"}, noDropout)
	data := synthetic(24, 5)
	ids := rowsOf(data)

	trained := filepath.Join(t.TempDir(), "trained")
	if _, err := train.Run(context.Background(), train.Config{
		ModelDir: base, OutDir: trained, Train: data, LoRA: &train.LoRAOptions{LoRA: bert.LoRA{R: 2, Alpha: 5, Targets: []string{"query", "value", "output.dense", "word_embeddings"}}}, Hyperparameters: hp(func(h *runspec.Hyperparameters) { h.Epochs = 3; h.BatchSize = 8; h.LearningRate = 2e-2; h.Seed = 5 }),
	}); err != nil {
		t.Fatal(err)
	}
	cases := map[string]string{"whet-trained": trained}
	for name, req := range map[string]map[string]any{
		"peft-default": {"r": 8, "lora_alpha": 8, "num_labels": 2},
		// A regex target, rsLoRA, a saved pooler and a 3-label head on the 2-label base.
		"peft-variants": {"r": 3, "lora_alpha": 7, "num_labels": 3, "target_modules": `.*\.(key|intermediate\.dense)`,
			"use_rslora": true, "modules_to_save": []string{"classifier", "pooler"}},
		// Every Embedding table (peft's lora.Embedding: lora_embedding_A/B) beside a Linear target.
		"peft-embeddings": {"r": 4, "lora_alpha": 8, "num_labels": 2,
			"target_modules": []string{"query", "word_embeddings", "position_embeddings", "token_type_embeddings"}},
	} {
		dir := filepath.Join(t.TempDir(), name)
		req["model"], req["out"], req["seed"] = base, dir, 7
		reftest.RunLoRA(t, "save", req, nil)
		cases[name] = dir
	}
	plain := whetLogits(t, base, "", ids)
	names := make([]string, 0, len(cases))
	for n := range cases {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, name := range names {
		dir := cases[name]
		t.Run(name, func(t *testing.T) {
			got := whetLogits(t, base, dir, ids)
			if d := worstDiff(t, got, refLogits(t, base, dir, ids)); d > 1e-4 {
				t.Errorf("whet vs reference logits differ by %g", d)
			} else {
				t.Logf("whet vs reference: %.2g", d)
			}
			if len(got[0]) == len(plain[0]) {
				if d := worstDiff(t, got, plain); d < 1e-3 {
					t.Errorf("the adapter changes the logits by only %g: the test cannot see it", d)
				}
			}
			a, err := checkpoint.ReadAdapter(dir)
			if err != nil {
				t.Fatal(err)
			}
			bf, err := checkpoint.ReadFolder(base)
			if err != nil {
				t.Fatal(err)
			}
			opts, err := checkpoint.Merge(bf, a)
			if err != nil {
				t.Fatal(err)
			}
			merged := filepath.Join(t.TempDir(), "merged")
			if err := checkpoint.WriteFolder(merged, opts); err != nil {
				t.Fatal(err)
			}
			if d := worstDiff(t, whetLogits(t, merged, "", ids), got); d > 1e-5 {
				t.Errorf("merged vs unmerged logits differ by %g", d)
			} else {
				t.Logf("merged vs unmerged: %.2g", d)
			}
		})
	}
}

// Without dropout, LoRA training steps give the PyTorch reference's losses (AdamW on the adapter's parameters only,
// the base frozen; an Embedding target among them): a base weight that moved, a missing gradient path or a wrong
// scaling would show.
func TestLoRATrainMatchesPyTorch(t *testing.T) {
	reftest.SkipWithoutTorch(t)
	torch.SetThreads(1)
	base := tinyModel(t, []string{"neg", "pos"}, noDropout)
	data := synthetic(12, 4)
	labels := make([]int, len(data))
	for i, e := range data {
		if e.Label == "pos" {
			labels[i] = 1
		}
	}
	const seed, steps = 11, 4
	lora := bert.LoRA{R: 4, Alpha: 16, Targets: []string{"query", "value", "intermediate.dense", "word_embeddings"}}
	// The trainer's starting point: the same seed draws the same lora_A; the classifier is the base's.
	m := loadBase(t, base, seed)
	a, err := bert.NewAdapter(m, lora, 2, nil, seed)
	if err != nil {
		t.Fatal(err)
	}
	tensors, err := a.Tensors()
	a.Close()
	m.Close()
	if err != nil {
		t.Fatal(err)
	}
	init := filepath.Join(t.TempDir(), "init")
	if err := checkpoint.WriteAdapter(init, checkpoint.AdapterSaveOptions{Config: checkpoint.NewAdapterConfig(lora, base), Tensors: tensors,
		Labels: []string{"neg", "pos"}, MaxPositionEmbeddings: 32}); err != nil {
		t.Fatal(err)
	}
	pids, ptypes, mask := reftest.Pad(rowsOf(data), nil, 0)
	var ref struct{ Losses []float64 }
	reftest.RunLoRA(t, "train", map[string]any{"model": base, "adapter": init, "input_ids": pids, "token_type_ids": ptypes,
		"attention_mask": mask, "labels": labels, "steps": steps, "lr": 1e-2, "weight_decay": 0.1, "threads": 1, "max_grad_norm": 1.0}, &ref)
	res, err := train.Run(context.Background(), train.Config{
		ModelDir: base, OutDir: filepath.Join(t.TempDir(), "out"), Train: data, LoRA: &train.LoRAOptions{LoRA: lora}, Hyperparameters: hp(func(h *runspec.Hyperparameters) {
			h.BatchSize = len(data)
			h.Epochs = steps
			h.LearningRate = 1e-2
			h.WeightDecay = 0.1
			h.Seed = seed
		}),
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Losses) != steps || len(ref.Losses) != steps {
		t.Fatalf("losses whet %v, reference %v", res.Losses, ref.Losses)
	}
	for i := range ref.Losses {
		if d := math.Abs(res.Losses[i] - ref.Losses[i]); d > 1e-4 {
			t.Errorf("step %d loss whet %.6f vs PyTorch %.6f (diff %.2g)", i+1, res.Losses[i], ref.Losses[i], d)
		}
	}
	if math.Abs(res.Losses[steps-1]-res.Losses[0]) < 1e-3 {
		t.Errorf("losses %v do not move: the test cannot see training", res.Losses)
	}
	t.Logf("whet %v\ntorch %v", res.Losses, ref.Losses)
}

// A LoRA run stopped and resumed from its adapter checkpoint (no --model: the base comes from
// base_model_name_or_path) continues exactly as the uninterrupted run, AdamW moments included.
func TestLoRAResumeContinuesExactly(t *testing.T) {
	torch.SetThreads(2)
	base := tinyModel(t, []string{"neg", "pos"}, noDropout)
	cfg := func(out string) train.Config {
		return train.Config{ModelDir: base, OutDir: out, Train: synthetic(64, 1), LoRA: &train.LoRAOptions{LoRA: bert.LoRA{R: 2}}, Hyperparameters: hp(func(h *runspec.Hyperparameters) { h.Epochs = 2; h.BatchSize = 8; h.LearningRate = 5e-3; h.Seed = 4 })}
	}
	full, err := train.Run(context.Background(), cfg(filepath.Join(t.TempDir(), "full")))
	if err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), "stopped")
	res2 := resume(t, cfg(out), stopAt(t, cfg(out), 5).LastCheckpoint)
	want := full.Losses[5:]
	if len(res2.Losses) != len(want) {
		t.Fatalf("resumed run logged %d losses, want %d", len(res2.Losses), len(want))
	}
	for i := range want {
		if d := math.Abs(res2.Losses[i] - want[i]); d > 1e-4 {
			t.Fatalf("step %d: resumed loss %.6f vs uninterrupted %.6f", i+6, res2.Losses[i], want[i])
		}
	}
	if !checkpoint.IsAdapter(out) {
		t.Errorf("resumed output is not an adapter folder")
	}
}

func TestLoRABadConfig(t *testing.T) {
	base := tinyModel(t, []string{"neg", "pos"}, nil)
	for _, tt := range []struct {
		lora bert.LoRA
		want string
	}{
		{bert.LoRA{Targets: []string{"query", "attn"}}, `target module "attn" matches no Linear layer`},
		{bert.LoRA{TargetRegex: "nothing"}, `target_modules "nothing" matches no Linear layer`},
		{bert.LoRA{R: -1}, "r must be positive"},
		{bert.LoRA{Dropout: 1}, "lora_dropout must be in [0, 1)"},
		{bert.LoRA{ModulesToSave: []string{"embeddings"}}, `modules_to_save "embeddings"`},
		{bert.LoRA{Targets: []string{"dense"}, ModulesToSave: []string{"pooler"}}, "both a LoRA target and a module to save"},
	} {
		_, err := train.Run(context.Background(), train.Config{ModelDir: base, OutDir: t.TempDir(), Train: synthetic(4, 1), LoRA: &train.LoRAOptions{LoRA: tt.lora}, Hyperparameters: hp(func(h *runspec.Hyperparameters) { h.Epochs = 1 })})
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%+v: err = %v, want containing %q", tt.lora, err, tt.want)
		}
	}
	if !slices.Equal(bert.LoRA{}.WithDefaults().Targets, []string{"query", "value"}) {
		t.Errorf("default targets = %v", bert.LoRA{}.WithDefaults().Targets)
	}
}
