package main

import (
	"errors"
	"flag"
	"fmt"
	"os"

	"github.com/whetml/whet/internal/atomicfile"
	"github.com/whetml/whet/wasm/wordpiece"
)

// runVocab implements `whet vocab build`: a WordPiece vocab.txt from unlabeled text, for models made from scratch.
func runVocab(args []string) error {
	if len(args) == 0 || args[0] != "build" {
		return errors.New("usage: whet vocab build --corpus FILE --out vocab.txt [--size N] [--cased]")
	}
	fs := flag.NewFlagSet("vocab build", flag.ContinueOnError)
	corpus := fs.String("corpus", "", "unlabeled text, one document per line")
	out := fs.String("out", "", "where to write vocab.txt")
	size := fs.Int("size", 8000, "vocabulary size, special tokens and characters included")
	cased := fs.Bool("cased", false, "keep case and accents (default: lowercase, as bert-base-uncased)")
	minCount := fs.Int("min-count", 2, "drop words seen fewer times")
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	if *corpus == "" || *out == "" {
		return errors.New("--corpus and --out are required")
	}
	f, err := os.Open(*corpus)
	if err != nil {
		return err
	}
	defer f.Close()
	vocab, err := wordpiece.BuildVocab(f, wordpiece.BuildOptions{Size: *size, DoLowerCase: !*cased, MinCount: *minCount})
	if err != nil {
		return fmt.Errorf("%s: %w", *corpus, err)
	}
	if err := atomicfile.Write(*out, vocab, 0o644); err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "wrote %s\n", *out)
	return nil
}
