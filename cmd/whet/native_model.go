//go:build cgo

package main

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/sugarme/gotch"

	"github.com/whetml/whet/host/modeldir"
	"github.com/whetml/whet/native/bert"
	"github.com/whetml/whet/native/checkpoint"
)

// runModel implements `whet model init` and `whet model merge`.
func runModel(args []string) error {
	if len(args) > 0 && args[0] == "merge" {
		return modelMerge(args[1:])
	}
	if len(args) == 0 || args[0] != "init" {
		return errors.New("usage: whet model init --vocab FILE --labels a,b[,c...] --layers N --hidden N --heads N --intermediate N [--max-position N] --seed N --out DIR\n" +
			"       whet model merge --adapter DIR [--base DIR] --out DIR")
	}
	return modelInit(args[1:])
}

// modelMerge folds a LoRA adapter into its base model (peft's merge_and_unload) and writes a plain HF model folder
// with the adapter's labels, tokenizer files and preprocess module.
func modelMerge(args []string) error {
	fs := flag.NewFlagSet("model merge", flag.ContinueOnError)
	adapterDir := fs.String("adapter", "", "LoRA adapter folder (adapter_config.json, adapter_model.safetensors)")
	baseDir := fs.String("base", "", "base model folder (default: the adapter's base_model_name_or_path)")
	out := fs.String("out", "", "model folder to create")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if err := required(fs, "adapter", "out"); err != nil {
		return err
	}
	if _, err := os.Stat(*out); err == nil {
		return fmt.Errorf("--out %s already exists", *out)
	}
	a, err := checkpoint.ReadAdapter(*adapterDir)
	if err != nil {
		return err
	}
	if *baseDir == "" {
		*baseDir = a.Config.BaseModelNameOrPath
	}
	base, err := checkpoint.ReadFolder(*baseDir)
	if err != nil {
		return fmt.Errorf("adapter[%s]: base model (--base): %w", *adapterDir, err)
	}
	opts, err := checkpoint.Merge(base, a)
	if err != nil {
		return err
	}
	tok, err := checkpoint.AdapterView(base, *adapterDir)
	if err != nil {
		return err
	}
	opts.DoLowerCase, opts.TokenizerConfig = tok.DoLowerCase, tok.TokenizerConfig
	if b, err := os.ReadFile(tok.VocabPath()); err == nil {
		opts.Vocab = b
	}
	opts.Extra = map[string][]byte{}
	for _, name := range []string{checkpoint.TokenizerJSONFile, modeldir.PreprocessModuleFile} {
		if b, err := os.ReadFile(filepath.Join(tok.Dir, name)); err == nil {
			opts.Extra[name] = b
		}
	}
	if err := checkpoint.WriteFolder(*out, opts); err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "wrote %s: %s merged into %s (r %d, %d labels %v)\n", *out, *adapterDir, *baseDir, a.Config.R,
		len(opts.Config.Labels()), opts.Config.Labels())
	return nil
}

// modelInit writes a randomly initialized BERT classifier folder, initialized like HF (normal(0, 0.02) weights,
// zero biases, LayerNorm 1/0) from a seeded generator, so the same flags give the same weights anywhere.
func modelInit(args []string) error {
	fs := flag.NewFlagSet("model init", flag.ContinueOnError)
	vocabPath := fs.String("vocab", "", "vocab.txt (WordPiece, one token per line)")
	labels := fs.String("labels", "", "comma-separated label names, in class-index order")
	layers := fs.Int("layers", 2, "encoder layers")
	hidden := fs.Int("hidden", 128, "hidden size")
	heads := fs.Int("heads", 2, "attention heads (must divide --hidden)")
	inter := fs.Int("intermediate", 512, "feed-forward size")
	maxPos := fs.Int("max-position", 512, "max_position_embeddings: the longest sequence the model accepts")
	seed := fs.Int64("seed", 42, "seed of the random initialization")
	out := fs.String("out", "", "model folder to create")
	cased := fs.Bool("cased", false, "keep case and accents (tokenizer_config do_lower_case=false)")
	initRange := fs.Float64("initializer-range", 0.02, "standard deviation of the random weights")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if err := required(fs, "vocab", "labels", "out"); err != nil {
		return err
	}
	vocab, err := os.ReadFile(*vocabPath)
	if err != nil {
		return fmt.Errorf("vocab[%s]: %w", *vocabPath, err)
	}
	n := bytes.Count(vocab, []byte("\n"))
	if len(vocab) > 0 && vocab[len(vocab)-1] != '\n' {
		n++
	}
	if n < 5 {
		return fmt.Errorf("vocab[%s]: %d tokens is too few for a BERT vocabulary", *vocabPath, n)
	}
	var names []string
	for _, l := range strings.Split(*labels, ",") {
		if l = strings.TrimSpace(l); l != "" {
			names = append(names, l)
		}
	}
	if len(names) < 2 {
		return fmt.Errorf("--labels: need at least 2 labels, got %q", *labels)
	}
	cfg := bert.DefaultConfig()
	cfg.VocabSize, cfg.NumHiddenLayers, cfg.HiddenSize, cfg.NumAttentionHeads, cfg.IntermediateSize = n, *layers, *hidden, *heads, *inter
	cfg.MaxPositionEmbeddings = *maxPos
	cfg.InitializerRange = *initRange
	if pad := bytes.Index(vocab, []byte("[PAD]\n")); pad >= 0 {
		cfg.PadTokenID = bytes.Count(vocab[:pad], []byte("\n"))
	}
	cfg.SetLabels(names)
	if err := cfg.Validate(); err != nil {
		return fmt.Errorf("model init: %w", err)
	}
	if _, err := os.Stat(*out); err == nil {
		return fmt.Errorf("--out %s already exists", *out)
	}
	m, err := bert.New(cfg, bert.Options{Heads: bert.HeadClassifier, NumLabels: len(names), Device: gotch.CPU, Seed: uint64(*seed)}, nil)
	if err != nil {
		return err
	}
	tensors, err := m.Tensors()
	m.Close()
	if err != nil {
		return err
	}
	if err := checkpoint.WriteFolder(*out, checkpoint.SaveOptions{Config: cfg, Tensors: tensors, Vocab: vocab, DoLowerCase: !*cased}); err != nil {
		return err
	}
	params := 0
	for _, t := range tensors {
		params += len(t.Values)
	}
	fmt.Fprintf(os.Stderr, "wrote %s: %d layers, hidden %d, %d heads, vocab %d, labels %v, %.1fM parameters\n", *out, *layers, *hidden, *heads, n, names, float64(params)/1e6)
	return nil
}
