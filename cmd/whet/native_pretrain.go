//go:build cgo

package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/whetml/whet/host/sandbox"
	"github.com/whetml/whet/internal/runspec"
	"github.com/whetml/whet/native/bert"
	"github.com/whetml/whet/native/checkpoint"
	"github.com/whetml/whet/native/train"
)

// pretrainSummary is `whet pretrain`'s last stdout line.
type pretrainSummary struct {
	Loss                  float64 `json:"loss"`
	FirstLoss             float64 `json:"first_loss"`
	GlobalStep            int     `json:"global_step"`
	TrainSamplesPerSecond float64 `json:"train_samples_per_second"`
	OutputDir             string  `json:"output_dir"`
}

// runPretrain implements `whet pretrain`: masked-LM pretraining on unlabeled text (one text per line), from a model
// folder's weights (--model), from a folder's config and vocab with fresh weights (--config-from), or from scratch
// (--vocab plus shape flags). It writes a BertForMaskedLM folder that `whet train --model` can start from.
func runPretrain(args []string) error {
	fs := flag.NewFlagSet("pretrain", flag.ContinueOnError)
	model := fs.String("model", "", "model folder to continue from")
	configFrom := fs.String("config-from", "", "take config.json, vocab.txt and tokenizer settings from this folder; fresh weights")
	vocabPath := fs.String("vocab", "", "vocab.txt for a model from scratch (with --layers/--hidden/--heads/--intermediate)")
	layers := fs.Int("layers", 2, "encoder layers (from scratch)")
	hidden := fs.Int("hidden", 128, "hidden size (from scratch)")
	heads := fs.Int("heads", 2, "attention heads (from scratch)")
	inter := fs.Int("intermediate", 512, "feed-forward size (from scratch)")
	maxPos := fs.Int("max-position", 512, "max_position_embeddings (from scratch)")
	cased := fs.Bool("cased", false, "keep case (from scratch with --vocab)")
	corpus := fs.String("corpus", "", "unlabeled text, one text per line")
	out := fs.String("out", "", "output model folder")
	cfg := train.PretrainDefaults()
	fs.IntVar(&cfg.Epochs, "epochs", cfg.Epochs, "passes over the corpus")
	fs.IntVar(&cfg.MaxSteps, "max-steps", 0, "stop after this many steps (0: epochs decide)")
	fs.IntVar(&cfg.BatchSize, "batch-size", cfg.BatchSize, "lines per step")
	fs.Float64Var(&cfg.LearningRate, "learning-rate", cfg.LearningRate, "peak AdamW learning rate")
	maxLen := fs.Int("max-seq-length", runspec.DefaultMaxSeqLength, "tokens per line (longer lines are truncated)")
	fs.Float64Var(&cfg.MLMProbability, "mlm-probability", cfg.MLMProbability, "share of tokens masked")
	fs.Float64Var(&cfg.WarmupRatio, "warmup-ratio", 0, "fraction of steps with a rising learning rate")
	fs.Float64Var(&cfg.WeightDecay, "weight-decay", cfg.WeightDecay, "AdamW weight decay")
	fs.Int64Var(&cfg.Seed, "seed", cfg.Seed, "seed for masking, shuffling and weights")
	threads := threadsFlag(fs)
	progress := fs.String("progress", "none", "json (NDJSON step events on stderr) or none")
	preModule := fs.String("preprocess-module", "", "preprocess .wasm module or builtin:NAME")
	device := deviceFlag(fs)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if err := required(fs, "corpus", "out"); err != nil {
		return err
	}
	sources := 0
	for _, s := range []string{*model, *configFrom, *vocabPath} {
		if s != "" {
			sources++
		}
	}
	if sources != 1 {
		return errors.New("give exactly one of --model DIR, --config-from DIR or --vocab FILE")
	}
	log := newLogger(*progress == "json")
	setThreads(*threads)
	ctx, stop := signalContext()
	defer stop()

	cfg.ModelDir, cfg.OutDir, cfg.Threads, cfg.Device, cfg.Logger = *model, *out, *threads, *device, log
	popts := sandbox.PreprocessOptions{MaxLength: *maxLen}
	switch {
	case *model != "" || *configFrom != "":
		dir := *model + *configFrom
		f, err := checkpoint.ReadConfigOnly(dir)
		if err != nil {
			return err
		}
		if *configFrom != "" {
			c := f.Config
			cfg.ModelDir, cfg.Config = "", &c
		}
		if cfg.Vocab, err = os.ReadFile(f.VocabPath()); err != nil {
			return fmt.Errorf("model[%s]: %w", dir, err)
		}
		cfg.DoLowerCase = f.DoLowerCase
		if b, err := os.ReadFile(filepath.Join(dir, checkpoint.TokenizerJSONFile)); err == nil {
			popts.TokenizerJSON = b
		}
	default:
		v, err := os.ReadFile(*vocabPath)
		if err != nil {
			return fmt.Errorf("vocab[%s]: %w", *vocabPath, err)
		}
		c := bert.DefaultConfig()
		c.VocabSize = len(vocabTokens(v))
		c.NumHiddenLayers, c.HiddenSize, c.NumAttentionHeads, c.IntermediateSize, c.MaxPositionEmbeddings = *layers, *hidden, *heads, *inter, *maxPos
		if err := c.Validate(); err != nil {
			return err
		}
		cfg.Config, cfg.Vocab, cfg.DoLowerCase = &c, v, !*cased
	}
	tokens := vocabTokens(cfg.Vocab)
	index := make(map[string]int32, len(tokens))
	for i, t := range tokens {
		if _, dup := index[t]; !dup {
			index[t] = int32(i)
		}
	}
	mask, ok := index["[MASK]"]
	if !ok {
		return errors.New("vocab has no [MASK] token: masked-LM pretraining needs one")
	}
	cfg.MaskTokenID = mask
	for _, s := range []string{"[CLS]", "[SEP]", "[PAD]", "[UNK]", "[MASK]"} {
		if id, ok := index[s]; ok {
			cfg.SpecialIDs = append(cfg.SpecialIDs, id)
		}
	}
	ds, err := readTextLines(*corpus)
	if err != nil {
		return err
	}
	popts.Vocab, popts.DoLowerCase = cfg.Vocab, cfg.DoLowerCase
	tok, err := newModuleTokenizer(ctx, *preModule, popts)
	if err != nil {
		return err
	}
	ids, _, err := tokenizeRows(ctx, tok, ds, *maxLen)
	tok.Close(ctx)
	if err != nil {
		return err
	}
	cfg.Texts = ids
	if *progress == "json" {
		cfg.Progress = jsonProgress()
	}
	t0 := time.Now()
	res, err := train.Pretrain(ctx, cfg)
	if err != nil {
		if errors.Is(err, context.Canceled) && res != nil {
			return &exitError{err: fmt.Errorf("interrupted at step %d: model so far written to %s", res.GlobalStep, *out), code: 130}
		}
		return err
	}
	sum := pretrainSummary{GlobalStep: res.GlobalStep, TrainSamplesPerSecond: round1(res.TrainSamplesPerSecond), OutputDir: *out}
	if n := len(res.Losses); n > 0 {
		sum.FirstLoss = res.Losses[0]
		k := min(n, 20)
		for _, l := range res.Losses[n-k:] {
			sum.Loss += l / float64(k)
		}
	}
	log.Info("pretraining done", "steps", res.GlobalStep, "seconds", time.Since(t0).Seconds(), "out", *out)
	return writeJSONLine(os.Stdout, sum)
}

// vocabTokens splits vocab.txt into its tokens (one per line; a trailing newline ends the last).
func vocabTokens(v []byte) []string {
	s := strings.TrimSuffix(string(bytes.ReplaceAll(v, []byte("\r\n"), []byte("\n"))), "\n")
	return strings.Split(s, "\n")
}
