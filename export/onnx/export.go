package onnx

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/whetml/whet/internal/atomicfile"
	"github.com/whetml/whet/native/bert"
	"github.com/whetml/whet/native/checkpoint"
)

// Files of an export folder (transformers.js's layout), relative to it.
const (
	ModelFile          = "onnx/model.onnx"
	QuantizedModelFile = "onnx/model_quantized.onnx"
	// PreprocessFile is the model's own preprocess module, copied when the model folder has one.
	PreprocessFile = "preprocess.wasm"
)

// Quantization choices.
const (
	// QuantizeNone writes only the float32 model.
	QuantizeNone = ""
	// QuantizeInt8 also writes model_quantized.onnx: 8-bit weights for every encoder and pooler Linear (per output
	// channel, activations quantized per tensor at run time) and the word embedding (per row).
	QuantizeInt8 = "int8"
)

// adapterConfigFile marks a LoRA adapter folder (peft's layout), which export refuses: merge it first.
const adapterConfigFile = "adapter_config.json"

// Version names the exporter's graph layout; caches of exported folders (the server's) key on it. Change it with
// any change to the graph or the folder.
const Version = "1"

// ModelError says why a model folder cannot be exported (the folder's fault, not the writer's).
type ModelError struct {
	// Msg names the file or key and what to do.
	Msg string
}

func (e *ModelError) Error() string { return e.Msg }

func modelErr(format string, args ...any) error {
	return &ModelError{Msg: fmt.Sprintf(format, args...)}
}

// Options are Export's choices.
type Options struct {
	// Quantize is QuantizeNone (default) or QuantizeInt8.
	Quantize string
	// ProducerVersion is written into the ONNX model's producer_version (for example whet's version). Default "dev".
	ProducerVersion string
}

// Result lists what Export wrote.
type Result struct {
	// Files are the written files, relative to the output folder, with their sizes in bytes.
	Files map[string]int64
}

// Export writes the ONNX export folder of the sequence classifier in modelDir into outDir (created if needed):
// config.json, vocab.txt, tokenizer_config.json, tokenizer.json (copied, or built from vocab.txt for the BERT
// WordPiece tokenizer), special_tokens_map.json when present, preprocess.wasm when the model has its own, and
// onnx/model.onnx (+ onnx/model_quantized.onnx with QuantizeInt8). Every file is written atomically.
//
// Cost: the model's float32 weights are held in memory once, plus one file's payload while it is written
// (bert-base: ~440 MB for fp32, ~120 MB for int8).
//
// # Errors
//
// An unknown Quantize value, a folder that is not a whet/HF BERT classifier (no labels in config.json, no classifier
// weights, missing or mis-shaped tensors), an adapter folder, or a write failure; each names the file or field.
func Export(ctx context.Context, modelDir, outDir string, opts Options) (*Result, error) {
	if opts.Quantize != QuantizeNone && opts.Quantize != QuantizeInt8 {
		return nil, fmt.Errorf("quantize %q: want %q or nothing", opts.Quantize, QuantizeInt8)
	}
	if _, err := os.Stat(filepath.Join(modelDir, adapterConfigFile)); err == nil {
		return nil, modelErr("model[%s]: is a LoRA adapter folder (%s): merge it into its base model first (whet model merge), then export the merged folder", modelDir, adapterConfigFile)
	}
	f, err := checkpoint.ReadFolder(modelDir)
	if err != nil {
		return nil, err
	}
	labels := f.Config.Labels()
	if len(labels) == 0 {
		return nil, modelErr("config[%s]: key[id2label]: the model has no labels; export needs a fine-tuned classifier", filepath.Join(modelDir, checkpoint.ConfigFile))
	}
	weights, rep, err := f.Match(f.Config, bert.HeadClassifier, len(labels))
	if err != nil {
		return nil, modelErr("%v", err)
	}
	if rep.FreshClassifier {
		return nil, modelErr("weights[%s]: %s; export needs a fine-tuned classifier", f.WeightsFile, rep.FreshReason)
	}
	if len(rep.Missing) > 0 {
		return nil, modelErr("weights[%s]: missing %s", f.WeightsFile, strings.Join(rep.Missing, ", "))
	}
	if err := os.MkdirAll(filepath.Join(outDir, filepath.Dir(ModelFile)), 0o755); err != nil {
		return nil, fmt.Errorf("export[%s]: %w", outDir, err)
	}
	res := &Result{Files: map[string]int64{}}
	if err := writeTokenizerFiles(f, outDir, res); err != nil {
		return nil, err
	}
	version := opts.ProducerVersion
	if version == "" {
		version = "dev"
	}
	variants := []struct {
		file string
		int8 bool
	}{{ModelFile, false}}
	if opts.Quantize == QuantizeInt8 {
		variants = append(variants, struct {
			file string
			int8 bool
		}{QuantizedModelFile, true})
	}
	for _, v := range variants {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		g, err := bertGraph(f.Config, weights, v.int8)
		if err != nil {
			return nil, fmt.Errorf("weights[%s]: %w", f.WeightsFile, err)
		}
		meta := [][2]string{{"whet.labels", strings.Join(labels, "\n")}}
		if v.int8 {
			meta = append(meta, [2]string{"whet.quantize", QuantizeInt8})
		}
		path := filepath.Join(outDir, filepath.FromSlash(v.file))
		var n int64
		err = atomicfile.WriteFrom(path, 0o644, func(w io.Writer) error {
			bw := bufio.NewWriterSize(w, 1<<20)
			var err error
			if n, err = writeModel(bw, g, version, meta); err != nil {
				return err
			}
			return bw.Flush()
		})
		if err != nil {
			return nil, err
		}
		res.Files[v.file] = n
	}
	return res, nil
}

// writeTokenizerFiles writes config.json and the tokenizer files transformers.js reads, plus the preprocess module.
func writeTokenizerFiles(f *checkpoint.Folder, outDir string, res *Result) error {
	put := func(name string, b []byte) error {
		path := filepath.Join(outDir, name)
		if err := atomicfile.Write(path, b, 0o644); err != nil {
			return err
		}
		res.Files[name] = int64(len(b))
		return nil
	}
	cfg, err := json.MarshalIndent(f.Config, "", "  ")
	if err != nil {
		return fmt.Errorf("config[%s]: %w", f.Dir, err)
	}
	if err := put(checkpoint.ConfigFile, cfg); err != nil {
		return err
	}
	for _, name := range []string{checkpoint.SpecialTokensFile, PreprocessFile} {
		b, err := os.ReadFile(filepath.Join(f.Dir, name))
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err != nil {
			return fmt.Errorf("model[%s]: %w", f.Dir, err)
		}
		if err := put(name, b); err != nil {
			return err
		}
	}
	vocab, err := os.ReadFile(f.VocabPath())
	if err != nil {
		return modelErr("model[%s]: %s is needed for the tokenizer files: %v", f.Dir, checkpoint.VocabFile, err)
	}
	if err := put(checkpoint.VocabFile, vocab); err != nil {
		return err
	}
	tc := map[string]any{}
	for k, v := range f.TokenizerConfig {
		tc[k] = v
	}
	tc["do_lower_case"] = f.DoLowerCase
	for k, v := range map[string]any{
		"tokenizer_class": "BertTokenizer", "unk_token": "[UNK]", "sep_token": "[SEP]", "pad_token": "[PAD]",
		"cls_token": "[CLS]", "mask_token": "[MASK]", "tokenize_chinese_chars": true, "strip_accents": nil,
	} {
		if _, ok := tc[k]; !ok {
			tc[k] = v
		}
	}
	b, err := json.MarshalIndent(tc, "", "  ")
	if err != nil {
		return err
	}
	if err := put(checkpoint.TokenizerConfigFile, b); err != nil {
		return err
	}
	tj, err := os.ReadFile(filepath.Join(f.Dir, checkpoint.TokenizerJSONFile))
	if errors.Is(err, os.ErrNotExist) {
		tj, err = BertTokenizerJSON(vocab, f.DoLowerCase)
	}
	if err != nil {
		return modelErr("model[%s]: %s: %v", f.Dir, checkpoint.TokenizerJSONFile, err)
	}
	return put(checkpoint.TokenizerJSONFile, tj)
}
