//go:build cgo

package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/whetml/whet/host/modeldir"
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
	if given := slices.DeleteFunc([]string{*model, *configFrom, *vocabPath}, func(s string) bool { return s == "" }); len(given) != 1 {
		return errors.New("give exactly one of --model DIR, --config-from DIR or --vocab FILE")
	}
	log := newLogger(*progress == "json")
	setThreads(*threads)
	ctx, stop := signalContext()
	defer stop()

	cfg.ModelDir, cfg.OutDir, cfg.Threads, cfg.Device, cfg.Logger = *model, *out, *threads, *device, log
	shape := bert.DefaultConfig()
	shape.NumHiddenLayers, shape.HiddenSize, shape.NumAttentionHeads, shape.IntermediateSize, shape.MaxPositionEmbeddings = *layers, *hidden, *heads, *inter, *maxPos
	popts, err := pretrainSource(&cfg, *configFrom, *vocabPath, shape, *cased)
	if err != nil {
		return err
	}
	popts.MaxLength = *maxLen
	if err := setMaskIDs(&cfg); err != nil {
		return err
	}
	if cfg.Texts, err = tokenizeCorpus(ctx, *corpus, *preModule, popts); err != nil {
		return err
	}
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
	sum := newPretrainSummary(res, *out)
	log.Info("pretraining done", "steps", res.GlobalStep, "seconds", time.Since(t0).Seconds(), "out", *out)
	return writeJSONLine(os.Stdout, sum)
}

// tokenizeCorpus reads the text lines of corpus and tokenizes them with the preprocess module (a .wasm file,
// builtin:NAME or "" for the built-in) configured by opts, up to opts.MaxLength tokens each.
func tokenizeCorpus(ctx context.Context, corpus, module string, opts sandbox.PreprocessOptions) ([][]int32, error) {
	ds, err := readTextLines(corpus)
	if err != nil {
		return nil, err
	}
	tok, err := newModuleTokenizer(ctx, module, opts)
	if err != nil {
		return nil, err
	}
	defer tok.Close(ctx)
	ids, _, err := tokenizeRows(ctx, tok, ds, opts.MaxLength)
	return ids, err
}

// pretrainSource sets cfg's model, vocabulary and casing from cfg.ModelDir (--model: its weights), configFrom (its
// config, fresh weights) or vocabPath with shape (from scratch; cased keeps case), and returns the tokenizer settings
// they give (modeldir.Runtime for a folder).
func pretrainSource(cfg *train.PretrainConfig, configFrom, vocabPath string, shape bert.Config, cased bool) (sandbox.PreprocessOptions, error) {
	if dir := cfg.ModelDir + configFrom; dir != "" {
		rt, err := modeldir.ReadRuntime(dir)
		if err != nil {
			return sandbox.PreprocessOptions{}, err
		}
		if rt.Vocab == nil {
			return sandbox.PreprocessOptions{}, fmt.Errorf("model[%s]: no %s: pretraining masks vocabulary ids", dir, modeldir.VocabFile)
		}
		if configFrom != "" {
			f, err := checkpoint.ReadConfigOnly(dir)
			if err != nil {
				return sandbox.PreprocessOptions{}, err
			}
			cfg.Config = &f.Config
		}
		cfg.Vocab, cfg.DoLowerCase = rt.Vocab, rt.DoLowerCase
		return sandbox.PreprocessOptions{Vocab: rt.Vocab, TokenizerJSON: rt.TokenizerJSON, DoLowerCase: rt.DoLowerCase}, nil
	}
	v, err := os.ReadFile(vocabPath)
	if err != nil {
		return sandbox.PreprocessOptions{}, fmt.Errorf("vocab[%s]: %w", vocabPath, err)
	}
	shape.VocabSize = len(vocabTokens(v))
	if err := shape.Validate(); err != nil {
		return sandbox.PreprocessOptions{}, err
	}
	cfg.Config, cfg.Vocab, cfg.DoLowerCase = &shape, v, !cased
	return sandbox.PreprocessOptions{Vocab: v, DoLowerCase: !cased}, nil
}

// setMaskIDs sets cfg's [MASK] id and the special ids never masked, from cfg.Vocab.
func setMaskIDs(cfg *train.PretrainConfig) error {
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
	return nil
}

// newPretrainSummary is the last stdout line of whet pretrain: the mean loss of the last 20 steps and the first.
func newPretrainSummary(res *train.PretrainResult, out string) pretrainSummary {
	sum := pretrainSummary{GlobalStep: res.GlobalStep, TrainSamplesPerSecond: round1(res.TrainSamplesPerSecond), OutputDir: out}
	if n := len(res.Losses); n > 0 {
		sum.FirstLoss = res.Losses[0]
		k := min(n, 20)
		for _, l := range res.Losses[n-k:] {
			sum.Loss += l / float64(k)
		}
	}
	return sum
}

// vocabTokens splits vocab.txt into its tokens (one per line; a trailing newline ends the last).
func vocabTokens(v []byte) []string {
	s := strings.TrimSuffix(string(bytes.ReplaceAll(v, []byte("\r\n"), []byte("\n"))), "\n")
	return strings.Split(s, "\n")
}
