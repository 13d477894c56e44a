// Command tokenize benchmarks sandboxed BERT WordPiece tokenization (the built-in bert-wordpiece module in wazero,
// one instance per core) against HuggingFace tokenizers (Rust, through npm @anush008/tokenizers) on the same
// sentences, and prints the ratio.
//
// Run from the repository root (needs `npm ci` for the HuggingFace side; without node it reports whet alone):
//
//	go run ./bench/tokenize                      # SST-2 train (../shared/data/sst2/train.tsv), uncased vocab
//	go run ./bench/tokenize -n 20000 -json       # fewer sentences; machine-readable summary on the last line
//	go run ./bench/tokenize -data FILE.tsv -column text -vocab vocab.txt [-lowercase=false]
//
// It measures, over the same sentences with max length 128 and ids + type ids + attention masks read out:
//
//   - whet trusted: the built-in module as the server runs it (no in-process termination checks);
//   - whet untrusted: the same bytes compiled as an upload (wazero close-on-context-done, the CPU limit);
//   - HF encode: one sentence at a time on one thread; HF encodeBatch: Rust's thread pool on all cores.
//
// The ratio compares whet trusted on all cores with the faster of the two HuggingFace figures. The module comes
// from the embedded wasm/modules/bin (make wasm); when that is not built, it is built into a temp dir first.
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/whetml/whet/host/sandbox"
	"github.com/whetml/whet/wasm/modules"
	"github.com/whetml/whet/wasm/wordpiece/hfref"
)

// summary is the -json output.
type summary struct {
	Sentences          int     `json:"sentences"`
	Cores              int     `json:"cores"`
	WhetTrusted        float64 `json:"whet_trusted_sentences_per_second"`
	WhetUntrusted      float64 `json:"whet_untrusted_sentences_per_second"`
	HFEncode           float64 `json:"hf_encode_sentences_per_second,omitempty"`
	HFEncodeBatch      float64 `json:"hf_encode_batch_sentences_per_second,omitempty"`
	RatioTrustedToHF   float64 `json:"ratio_trusted_to_hf,omitempty"`
	RatioUntrustedToHF float64 `json:"ratio_untrusted_to_hf,omitempty"`
}

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "bench/tokenize:", err)
		os.Exit(1)
	}
}

func run() error {
	root, err := hfref.RepoRoot()
	if err != nil {
		return err
	}
	shared := filepath.Join(root, "..", "shared")
	data := flag.String("data", filepath.Join(shared, "data/sst2/train.tsv"), "TSV file with a header row")
	column := flag.String("column", "sentence", "text column of -data")
	vocabPath := flag.String("vocab", filepath.Join(shared, "data/vocab/bert-base-uncased-vocab.txt"), "vocab.txt")
	lower := flag.Bool("lowercase", true, "do_lower_case")
	n := flag.Int("n", 0, "use the first N sentences (0: all)")
	maxLen := flag.Int("max-length", 128, "max sequence length")
	asJSON := flag.Bool("json", false, "print a JSON summary as the last line")
	flag.Parse()

	texts, err := hfref.ReadTSVColumn(*data, *column)
	if err != nil {
		return err
	}
	if *n > 0 && *n < len(texts) {
		texts = texts[:*n]
	}
	vocab, err := os.ReadFile(*vocabPath)
	if err != nil {
		return err
	}
	wasm, err := bertModule(root)
	if err != nil {
		return err
	}
	ctx := context.Background()
	s := summary{Sentences: len(texts), Cores: runtime.NumCPU()}
	fmt.Printf("sentences: %d from %s, cores: %d, max length %d\n", len(texts), *data, s.Cores, *maxLen)
	for _, trusted := range []bool{true, false} {
		rate, err := whetRate(ctx, wasm, trusted, vocab, *lower, *maxLen, texts)
		if err != nil {
			return err
		}
		if trusted {
			s.WhetTrusted = rate
		} else {
			s.WhetUntrusted = rate
		}
		fmt.Printf("whet bert-wordpiece in wazero (%s): %10.0f sentences/s\n", map[bool]string{true: "trusted, built-in", false: "untrusted, CPU limit"}[trusted], rate)
	}
	if err := hfref.Available(root); err != nil {
		fmt.Printf("HuggingFace tokenizers: skipped (%v)\n", err)
	} else {
		enc, batch, err := hfRate(root, *vocabPath, *lower, *maxLen, texts)
		if err != nil {
			return err
		}
		s.HFEncode, s.HFEncodeBatch = enc, batch
		best := max(enc, batch)
		s.RatioTrustedToHF, s.RatioUntrustedToHF = s.WhetTrusted/best, s.WhetUntrusted/best
		fmt.Printf("HuggingFace tokenizers encode (1 thread):       %10.0f sentences/s\n", enc)
		fmt.Printf("HuggingFace tokenizers encodeBatch (all cores): %10.0f sentences/s\n", batch)
		fmt.Printf("ratio whet trusted / best HF:   %.2fx\n", s.RatioTrustedToHF)
		fmt.Printf("ratio whet untrusted / best HF: %.2fx\n", s.RatioUntrustedToHF)
	}
	if *asJSON {
		b, _ := json.Marshal(s)
		fmt.Println(string(b))
	}
	return nil
}

// bertModule returns the embedded built-in module, or builds it into a temp dir when `make wasm` has not run.
func bertModule(root string) ([]byte, error) {
	if b, err := modules.BertWordPiece(); err == nil {
		return b, nil
	}
	dir, err := os.MkdirTemp("", "whet-bench-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	out := filepath.Join(dir, "bert-wordpiece.wasm")
	cmd := exec.Command("go", "build", "-buildmode=c-shared", "-trimpath", "-ldflags=-s -w", "-o", out, "./wasm/modules/bert-wordpiece")
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "GOOS=wasip1", "GOARCH=wasm")
	if b, err := cmd.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("build bert-wordpiece: %v\n%s", err, b)
	}
	return os.ReadFile(out)
}

func whetRate(ctx context.Context, wasm []byte, trusted bool, vocab []byte, lower bool, maxLen int, texts []string) (float64, error) {
	rt, err := sandbox.New(ctx, sandbox.Config{})
	if err != nil {
		return 0, err
	}
	defer rt.Close(ctx)
	var mod *sandbox.Compiled
	if trusted {
		mod, err = rt.CompileTrusted(ctx, wasm)
	} else {
		mod, err = rt.Compile(ctx, wasm)
	}
	if err != nil {
		return 0, err
	}
	pre, err := rt.NewPreprocessor(ctx, mod, sandbox.PreprocessOptions{Vocab: vocab, DoLowerCase: lower, MaxLength: maxLen})
	if err != nil {
		return 0, err
	}
	defer pre.Close(ctx)
	// Warm up every instance of the pool (instantiation is not what is measured).
	warm := texts[:min(len(texts), 256*runtime.NumCPU())]
	if _, err := pre.Preprocess(ctx, sandbox.PreprocessRequest{Texts: warm}); err != nil {
		return 0, err
	}
	start := time.Now()
	out, err := pre.Preprocess(ctx, sandbox.PreprocessRequest{Texts: texts})
	if err != nil {
		return 0, err
	}
	elapsed := time.Since(start)
	for i, e := range out.Errors {
		if e != "" {
			return 0, fmt.Errorf("row %d: %s", i, e)
		}
	}
	return float64(len(texts)) / elapsed.Seconds(), nil
}

func hfRate(root, vocabPath string, lower bool, maxLen int, texts []string) (float64, float64, error) {
	f, err := os.CreateTemp("", "whet-bench-sentences-")
	if err != nil {
		return 0, 0, err
	}
	defer os.Remove(f.Name())
	for _, t := range texts {
		fmt.Fprintln(f, strings.ReplaceAll(t, "\n", " "))
	}
	if err := f.Close(); err != nil {
		return 0, 0, err
	}
	cmd := exec.Command("node", "bench/tokenize/hf_bench.mjs", "--vocab", vocabPath, "--sentences", f.Name(),
		"--lowercase", strconv.FormatBool(lower), "--max-length", strconv.Itoa(maxLen))
	cmd.Dir = root
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return 0, 0, fmt.Errorf("node hf_bench.mjs: %v: %s", err, stderr.String())
	}
	var r struct {
		Encode      float64 `json:"encode_per_second"`
		EncodeBatch float64 `json:"encode_batch_per_second"`
	}
	if err := json.Unmarshal(out, &r); err != nil {
		return 0, 0, fmt.Errorf("node hf_bench.mjs output %q: %w", out, err)
	}
	return r.Encode, r.EncodeBatch, nil
}
