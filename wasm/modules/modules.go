// Package modules holds the sources of whet's built-in WebAssembly modules (one main package per folder:
// bert-wordpiece, classification-metrics, hf-tokenizer) and embeds their compiled binaries from bin/ with go:embed,
// so the server and CLI carry them inside the whet binary.
//
// The binaries are built by `make wasm` (see bin/README.md); when one is missing its accessor returns an error
// telling how to build it rather than failing the whole binary's build. The package imports only the standard
// library.
//
//	wasm, err := modules.BertWordPiece()
//	if err != nil {
//		return err // "built-in module bert-wordpiece not built: run `make wasm`"
//	}
//	mod, err := rt.Compile(ctx, wasm)
package modules

import (
	"embed"
	"fmt"
	"io/fs"
)

// Names of the built-in modules, which are also their folder and file names.
const (
	NameBertWordPiece         = "bert-wordpiece"
	NameClassificationMetrics = "classification-metrics"
	NameHFTokenizer           = "hf-tokenizer"
)

//go:embed bin/*
var bin embed.FS

// Names lists the built-in modules.
func Names() []string {
	return []string{NameBertWordPiece, NameClassificationMetrics, NameHFTokenizer}
}

// Get returns the compiled bytes of the built-in module called name.
func Get(name string) ([]byte, error) {
	b, err := fs.ReadFile(bin, "bin/"+name+".wasm")
	if err != nil || len(b) == 0 {
		return nil, fmt.Errorf("built-in module %s not built: run `make wasm`", name)
	}
	return b, nil
}

// BertWordPiece returns the bert-wordpiece preprocess module (HuggingFace-exact BERT WordPiece).
func BertWordPiece() ([]byte, error) { return Get(NameBertWordPiece) }

// ClassificationMetrics returns the classification-metrics evaluate module.
func ClassificationMetrics() ([]byte, error) { return Get(NameClassificationMetrics) }

// HFTokenizer returns the hf-tokenizer preprocess module (HuggingFace tokenizer.json through sugarme/tokenizer).
func HFTokenizer() ([]byte, error) { return Get(NameHFTokenizer) }
