package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/whetml/whet/host/sandbox"
	"github.com/whetml/whet/wasm/modules"
)

// builtinPrefix names an embedded built-in module instead of a file: builtin:bert-wordpiece.
const builtinPrefix = "builtin:"

func moduleUsage() {
	fmt.Fprint(os.Stderr, `usage:
  whet module build DIR -o FILE.wasm
        build a Go module package (GOOS=wasip1 reactor) and validate it
  whet module validate FILE.wasm
        check a module and print its info as JSON
  whet module run FILE.wasm [--vocab vocab.txt] [--lowercase] [--max-length N] [--tokenizer tokenizer.json]
                            [--pair TEXT] [--input FILE] TEXT...
        run a preprocess module on texts (arguments, or --input with one text per line) and print the result
  whet module run FILE.wasm --input request.json
        run an evaluate module on {"labels":[...],"predictions":[...],"label_names":[...]} and print the metrics
FILE may be builtin:bert-wordpiece, builtin:classification-metrics or builtin:hf-tokenizer.
`)
}

// runModule implements `whet module build|validate|run`.
func runModule(args []string) error {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		moduleUsage()
		if len(args) == 0 {
			return errors.New("missing subcommand: build, validate or run")
		}
		return flag.ErrHelp
	}
	switch args[0] {
	case "build":
		return moduleBuild(args[1:])
	case "validate":
		return moduleValidate(args[1:])
	case "run":
		return moduleRun(args[1:])
	}
	moduleUsage()
	return fmt.Errorf("unknown subcommand %q: want build, validate or run", args[0])
}

// parseInterleaved parses flags that may come before, between or after positional arguments.
func parseInterleaved(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		args = fs.Args()
		if len(args) == 0 {
			return pos, nil
		}
		if args[0] == "--" {
			return append(pos, args[1:]...), nil
		}
		pos = append(pos, args[0])
		args = args[1:]
	}
}

func moduleBuild(args []string) error {
	fs := flag.NewFlagSet("module build", flag.ContinueOnError)
	out := fs.String("o", "", "output `FILE.wasm` (required)")
	pos, err := parseInterleaved(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 || *out == "" {
		return errors.New("usage: whet module build DIR -o FILE.wasm")
	}
	dir := pos[0]
	if !filepath.IsAbs(dir) && !strings.HasPrefix(dir, "."+string(filepath.Separator)) && dir != "." {
		dir = "." + string(filepath.Separator) + dir
	}
	if err := os.MkdirAll(filepath.Dir(*out), 0o755); err != nil {
		return fmt.Errorf("output folder: %w", err)
	}
	cmd := exec.Command("go", "build", "-buildmode=c-shared", "-trimpath", "-ldflags=-s -w", "-o", *out, dir)
	cmd.Env = append(os.Environ(), "GOOS=wasip1", "GOARCH=wasm")
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("GOOS=wasip1 GOARCH=wasm go build %s: %w", dir, err)
	}
	return moduleValidate([]string{*out})
}

// loadModule reads FILE or a builtin: name; built-ins compile as trusted, files as untrusted uploads.
func loadModule(ctx context.Context, rt *sandbox.Runtime, name string) (*sandbox.Compiled, error) {
	if b, ok := strings.CutPrefix(name, builtinPrefix); ok {
		wasm, err := modules.Get(b)
		if err != nil {
			return nil, err
		}
		return rt.CompileTrusted(ctx, wasm)
	}
	wasm, err := os.ReadFile(name)
	if err != nil {
		return nil, err
	}
	return rt.Compile(ctx, wasm)
}

// openModule starts a module runtime and loads the module FILE or builtin:NAME into it; the caller closes the
// runtime.
func openModule(ctx context.Context, name string) (*sandbox.Runtime, *sandbox.Compiled, error) {
	rt, err := newModuleRuntime(ctx)
	if err != nil {
		return nil, nil, err
	}
	mod, err := loadModule(ctx, rt, name)
	if err != nil {
		rt.Close(ctx)
		return nil, nil, fmt.Errorf("%s: %w", name, err)
	}
	return rt, mod, nil
}

func newModuleRuntime(ctx context.Context) (*sandbox.Runtime, error) {
	cfg := sandbox.Config{}
	if dir, err := os.UserCacheDir(); err == nil {
		cfg.CacheDir = filepath.Join(dir, "whet", "wasm")
	}
	rt, err := sandbox.New(ctx, cfg)
	if err != nil && cfg.CacheDir != "" {
		cfg.CacheDir = "" // an unwritable cache folder is not worth failing for
		rt, err = sandbox.New(ctx, cfg)
	}
	return rt, err
}

func moduleValidate(args []string) error {
	fs := flag.NewFlagSet("module validate", flag.ContinueOnError)
	pos, err := parseInterleaved(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return errors.New("usage: whet module validate FILE.wasm")
	}
	ctx := context.Background()
	rt, mod, err := openModule(ctx, pos[0])
	if err != nil {
		return err
	}
	defer rt.Close(ctx)
	return printJSON(os.Stdout, mod.Info())
}

// runRow is one preprocess result as `whet module run` prints it.
type runRow struct {
	Text          string   `json:"text"`
	TextPair      *string  `json:"text_pair,omitempty"`
	InputIDs      []int32  `json:"input_ids,omitempty"`
	TypeIDs       []int32  `json:"token_type_ids,omitempty"`
	AttentionMask []int32  `json:"attention_mask,omitempty"`
	Tokens        []string `json:"tokens,omitempty"`
	Error         string   `json:"error,omitempty"`
}

func moduleRun(args []string) error {
	fs := flag.NewFlagSet("module run", flag.ContinueOnError)
	vocab := fs.String("vocab", "", "vocab.txt for WordPiece modules")
	lower := fs.Bool("lowercase", false, "lowercase and strip accents (do_lower_case)")
	maxLen := fs.Int("max-length", 0, "maximum sequence length including special tokens (0: none)")
	tokJSON := fs.String("tokenizer", "", "HuggingFace tokenizer.json for the hf-tokenizer module")
	pair := fs.String("pair", "", "second text: every text is encoded as a pair with it")
	input := fs.String("input", "", "read texts from `FILE`, one per line (preprocess), or a JSON request (evaluate)")
	pos, err := parseInterleaved(fs, args)
	if err != nil {
		return err
	}
	if len(pos) == 0 {
		return errors.New("usage: whet module run FILE.wasm [flags] TEXT...")
	}
	ctx := context.Background()
	rt, mod, err := openModule(ctx, pos[0])
	if err != nil {
		return err
	}
	defer rt.Close(ctx)
	if mod.Info().Kind == "evaluate" {
		return runEvaluate(ctx, rt, mod, *input, pos[1:])
	}
	texts := pos[1:]
	if *input != "" {
		lines, err := readLines(*input)
		if err != nil {
			return err
		}
		texts = append(texts, lines...)
	}
	if len(texts) == 0 {
		return errors.New("no texts: pass them as arguments or with --input FILE")
	}
	opts := sandbox.PreprocessOptions{DoLowerCase: *lower, MaxLength: *maxLen}
	if *vocab != "" {
		if opts.Vocab, err = os.ReadFile(*vocab); err != nil {
			return err
		}
	}
	if *tokJSON != "" {
		if opts.TokenizerJSON, err = os.ReadFile(*tokJSON); err != nil {
			return err
		}
	}
	pre, err := rt.NewPreprocessor(ctx, mod, opts)
	if err != nil {
		return err
	}
	defer pre.Close(ctx)
	req := sandbox.PreprocessRequest{Texts: texts, WithTokens: true}
	pairSet := false
	fs.Visit(func(f *flag.Flag) { pairSet = pairSet || f.Name == "pair" })
	if pairSet {
		req.TextPairs = make([]string, len(texts))
		for i := range req.TextPairs {
			req.TextPairs[i] = *pair
		}
	}
	out, err := pre.Preprocess(ctx, req)
	if err != nil {
		return err
	}
	rows := make([]runRow, len(texts))
	for i := range rows {
		rows[i] = runRow{Text: texts[i], InputIDs: out.InputIDs[i], TypeIDs: out.TypeIDs[i],
			AttentionMask: out.AttentionMask[i], Tokens: out.Tokens[i], Error: out.Errors[i]}
		if pairSet {
			rows[i].TextPair = pair
		}
	}
	return printRows(os.Stdout, mod.Info(), rows)
}

// printRows prints {"module": ..., "results": [...]} as valid JSON with one result per line.
func printRows(w io.Writer, info sandbox.Info, rows []runRow) error {
	head, err := json.Marshal(info)
	if err != nil {
		return err
	}
	bw := bufio.NewWriter(w)
	fmt.Fprintf(bw, "{\"module\": %s,\n \"results\": [", head)
	for i, r := range rows {
		b, err := json.Marshal(r)
		if err != nil {
			return err
		}
		if i > 0 {
			bw.WriteString(",")
		}
		fmt.Fprintf(bw, "\n  %s", b)
	}
	bw.WriteString("\n]}\n")
	return bw.Flush()
}

func runEvaluate(ctx context.Context, rt *sandbox.Runtime, mod *sandbox.Compiled, input string, rest []string) error {
	var raw []byte
	var err error
	switch {
	case input != "":
		raw, err = os.ReadFile(input)
	case len(rest) == 1:
		raw = []byte(rest[0])
	default:
		return errors.New(`an evaluate module needs a JSON request: --input FILE or one argument like {"labels":[0,1],"predictions":[0,0]}`)
	}
	if err != nil {
		return err
	}
	var req sandbox.EvaluateRequest
	if err := json.Unmarshal(raw, &req); err != nil {
		return fmt.Errorf("evaluate request: %w", err)
	}
	ev, err := rt.NewEvaluator(ctx, mod)
	if err != nil {
		return err
	}
	defer ev.Close(ctx)
	doc, err := ev.Evaluate(ctx, req)
	if err != nil {
		return err
	}
	return printJSON(os.Stdout, doc)
}

func readLines(path string) ([]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var lines []string
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 64<<20)
	for sc.Scan() {
		lines = append(lines, strings.TrimRight(sc.Text(), "\r"))
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return lines, nil
}

func printJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	return enc.Encode(v)
}
