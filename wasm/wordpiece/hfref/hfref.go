// Package hfref runs HuggingFace `tokenizers` (the Rust library, through the npm package @anush008/tokenizers and
// the node script hf_reference.mjs beside this file) as the reference that whet's WordPiece tokenizer is tested and
// benchmarked against. It is test and benchmark support: nothing in the server imports it.
//
// The reference needs `node` on PATH and `npm ci` run at the repository root (node_modules/@anush008/tokenizers);
// Available reports why it cannot run so tests can t.Skip with that reason. The shared data sets live outside the
// repository in ../shared (SharedDir).
//
//	root, _ := hfref.RepoRoot()
//	if err := hfref.Available(root); err != nil {
//		t.Skip(err)
//	}
//	want, err := hfref.Encode(ctx, root, vocabPath, hfref.Config{Lowercase: true}, inputs)
package hfref

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
)

// Script is the reference script's path relative to the repository root.
const Script = "wasm/wordpiece/hfref/hf_reference.mjs"

// Input is one row to encode.
type Input struct {
	// Text is the first (or only) text.
	Text string `json:"text"`
	// Pair is the second text; used only when HasPair is set.
	Pair string `json:"pair,omitempty"`
	// HasPair marks a sentence pair (an empty Pair is still a pair).
	HasPair bool `json:"-"`
}

// Output is HuggingFace's encoding of one row.
type Output struct {
	// IDs are the token ids, special tokens included.
	IDs []int32 `json:"ids"`
	// TypeIDs are the segment ids.
	TypeIDs []int32 `json:"type_ids"`
	// Tokens are the token strings.
	Tokens []string `json:"tokens"`
}

// Config selects the reference tokenizer's settings.
type Config struct {
	// Lowercase is do_lower_case (accents are stripped with it, as HuggingFace does by default).
	Lowercase bool
	// MaxLength truncates longest-first when > 0.
	MaxLength int
}

// RepoRoot returns the repository root: the nearest directory at or above the working directory holding go.mod.
func RepoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", fmt.Errorf("hfref: %w", err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("hfref: no go.mod above the working directory")
		}
		dir = parent
	}
}

// SharedDir returns ../shared relative to the repository root (the project's shared data sets and vocabularies),
// or an error saying it is absent.
func SharedDir(root string) (string, error) {
	dir := filepath.Join(root, "..", "shared")
	if _, err := os.Stat(filepath.Join(dir, "data")); err != nil {
		return "", fmt.Errorf("shared data folder %s is absent: %w", dir, err)
	}
	return dir, nil
}

// Available reports why the reference cannot run (no node, or node_modules not installed), or nil.
func Available(root string) error {
	if _, err := exec.LookPath("node"); err != nil {
		return fmt.Errorf("hfref: node is not on PATH: %w", err)
	}
	pkg := filepath.Join(root, "node_modules", "@anush008", "tokenizers", "package.json")
	if _, err := os.Stat(pkg); err != nil {
		return fmt.Errorf("hfref: %s is absent (run `npm ci` at the repository root)", pkg)
	}
	return nil
}

// Encode runs the reference on inputs and returns one Output per input, in order.
func Encode(ctx context.Context, root, vocabPath string, cfg Config, inputs []Input) ([]Output, error) {
	var in bytes.Buffer
	enc := json.NewEncoder(&in)
	for _, x := range inputs {
		row := map[string]string{"text": x.Text}
		if x.HasPair {
			row["pair"] = x.Pair
		}
		if err := enc.Encode(row); err != nil {
			return nil, fmt.Errorf("hfref: encode input: %w", err)
		}
	}
	cmd := exec.CommandContext(ctx, "node", Script, "--vocab", vocabPath,
		"--lowercase", strconv.FormatBool(cfg.Lowercase), "--max-length", strconv.Itoa(cfg.MaxLength))
	cmd.Dir = root
	cmd.Stdin = &in
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("hfref: node %s: %w: %s", Script, err, strings.TrimSpace(stderr.String()))
	}
	res := make([]Output, 0, len(inputs))
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(make([]byte, 1<<20), 64<<20)
	for sc.Scan() {
		var o Output
		if err := json.Unmarshal(sc.Bytes(), &o); err != nil {
			return nil, fmt.Errorf("hfref: output line %d: %w", len(res)+1, err)
		}
		res = append(res, o)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("hfref: read output: %w", err)
	}
	if len(res) != len(inputs) {
		return nil, fmt.Errorf("hfref: %d outputs for %d inputs", len(res), len(inputs))
	}
	return res, nil
}

// ReadTSVColumn reads one named column of a TSV file with a header row and no quoting (the shared data sets'
// format). Empty lines are skipped.
func ReadTSVColumn(path, column string) ([]string, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("hfref: %w", err)
	}
	lines := strings.Split(strings.TrimRight(string(data), "\n"), "\n")
	header := strings.Split(strings.TrimRight(lines[0], "\r"), "\t")
	col := -1
	for i, h := range header {
		if h == column {
			col = i
		}
	}
	if col < 0 {
		return nil, fmt.Errorf("hfref: %s: no column %q in header %q", path, column, header)
	}
	var out []string
	for n, line := range lines[1:] {
		line = strings.TrimRight(line, "\r")
		if line == "" {
			continue
		}
		f := strings.Split(line, "\t")
		if col >= len(f) {
			return nil, fmt.Errorf("hfref: %s:%d: %d fields, column %q is field %d", path, n+2, len(f), column, col+1)
		}
		out = append(out, f[col])
	}
	return out, nil
}
