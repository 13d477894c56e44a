package checkpoint

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"

	"github.com/whetml/whet/internal/atomicfile"
	"github.com/whetml/whet/native/bert"
)

// SaveOptions is what WriteFolder writes.
type SaveOptions struct {
	// Config is written as config.json (Architectures should name the model class).
	Config bert.Config
	// Tensors are written, in order, as F32 to model.safetensors.
	Tensors []Tensor
	// Vocab is the content of vocab.txt; nil writes none.
	Vocab []byte
	// DoLowerCase is written to tokenizer_config.json.
	DoLowerCase bool
	// TokenizerConfig holds extra tokenizer_config.json keys to keep (do_lower_case is always DoLowerCase).
	TokenizerConfig map[string]any
	// Extra are more files to write (name -> content), e.g. trainer_state.json.
	Extra map[string][]byte
}

// WriteFolder writes a HuggingFace model folder atomically: when dir does not exist yet, everything is written to a
// temporary sibling folder that is renamed into place; when it exists (e.g. a training output folder that also
// holds checkpoints/), each file is written to a temporary file and renamed over the old one, weights last, so a
// reader never sees a half-written file. Errors name the file.
func WriteFolder(dir string, opts SaveOptions) error {
	files, err := folderFiles(opts)
	if err != nil {
		return fmt.Errorf("model[%s]: %w", dir, err)
	}
	return writeFiles(dir, files)
}

// writeFiles writes files into dir as WriteFolder describes.
func writeFiles(dir string, files []namedFile) error {
	if _, err := os.Stat(dir); errors.Is(err, fs.ErrNotExist) {
		parent := filepath.Dir(filepath.Clean(dir))
		if err := os.MkdirAll(parent, 0o755); err != nil {
			return fmt.Errorf("model[%s]: %w", dir, err)
		}
		tmp, err := os.MkdirTemp(parent, "."+filepath.Base(dir)+".tmp-")
		if err != nil {
			return fmt.Errorf("model[%s]: %w", dir, err)
		}
		for _, f := range files {
			if err := f.writeTo(filepath.Join(tmp, f.name)); err != nil {
				os.RemoveAll(tmp)
				return fmt.Errorf("model[%s]: %w", dir, err)
			}
		}
		if err := os.Chmod(tmp, 0o755); err != nil {
			os.RemoveAll(tmp)
			return fmt.Errorf("model[%s]: %w", dir, err)
		}
		if err := os.Rename(tmp, dir); err != nil {
			os.RemoveAll(tmp)
			return fmt.Errorf("model[%s]: %w", dir, err)
		}
		atomicfile.SyncDir(parent)
		return nil
	} else if err != nil {
		return fmt.Errorf("model[%s]: %w", dir, err)
	}
	for _, f := range files {
		if err := f.writeTo(filepath.Join(dir, f.name)); err != nil {
			return fmt.Errorf("model[%s]: %w", dir, err)
		}
	}
	atomicfile.SyncDir(dir)
	return nil
}

// namedFile is a file of a model folder: data, or, for the weights, a function that streams them.
type namedFile struct {
	name  string
	data  []byte
	write func(io.Writer) error
}

func (f namedFile) writeTo(path string) error {
	if f.write != nil {
		return atomicfile.WriteFrom(path, 0o644, f.write)
	}
	return atomicfile.Write(path, f.data, 0o644)
}

func folderFiles(opts SaveOptions) ([]namedFile, error) {
	if err := opts.Config.Validate(); err != nil {
		return nil, err
	}
	cfgJSON, err := json.MarshalIndent(opts.Config, "", "  ")
	if err != nil {
		return nil, err
	}
	raws, err := f32Raws(opts.Tensors, "")
	if err != nil {
		return nil, err
	}
	files, err := tokenizerFiles(opts.Config.MaxPositionEmbeddings, opts.Vocab, opts.DoLowerCase, opts.TokenizerConfig, opts.Extra)
	if err != nil {
		return nil, err
	}
	files = append([]namedFile{{name: ConfigFile, data: append(cfgJSON, '\n')}}, files...)
	// Weights last.
	files = append(files, namedFile{name: SafetensorsFile, write: func(w io.Writer) error {
		return WriteSafetensors(w, raws, map[string]string{"format": "pt"})
	}})
	return files, nil
}

// f32Raws checks each tensor's values against its shape and views it as F32 named prefix + Name.
func f32Raws(tensors []Tensor, prefix string) ([]RawTensor, error) {
	raws := make([]RawTensor, len(tensors))
	for i, t := range tensors {
		n := int64(1)
		for _, d := range t.Shape {
			n *= d
		}
		if n != int64(len(t.Values)) {
			return nil, fmt.Errorf("tensor[%s]: %d values for shape %v", t.Name, len(t.Values), t.Shape)
		}
		raws[i] = F32Tensor(prefix+t.Name, t.Shape, t.Values)
	}
	return raws, nil
}

// tokenizerFiles returns tokenizer_config.json (extra keys kept, HF BertTokenizer defaults filled in),
// special_tokens_map.json, vocab.txt (when vocab is not nil) and the extra files.
func tokenizerFiles(maxPos int, vocab []byte, doLowerCase bool, tokCfg map[string]any, extra map[string][]byte) ([]namedFile, error) {
	tc := map[string]any{}
	for k, v := range tokCfg {
		tc[k] = v
	}
	tc["do_lower_case"] = doLowerCase
	defaults := map[string]any{
		"tokenizer_class":  "BertTokenizer",
		"model_max_length": maxPos,
		"unk_token":        "[UNK]", "sep_token": "[SEP]", "pad_token": "[PAD]", "cls_token": "[CLS]", "mask_token": "[MASK]",
		"strip_accents":                nil,
		"tokenize_chinese_chars":       true,
		"clean_up_tokenization_spaces": true,
	}
	for k, v := range defaults {
		if _, ok := tc[k]; !ok {
			tc[k] = v
		}
	}
	tcJSON, err := json.MarshalIndent(tc, "", "  ")
	if err != nil {
		return nil, err
	}
	special, _ := json.MarshalIndent(map[string]string{
		"unk_token": "[UNK]", "sep_token": "[SEP]", "pad_token": "[PAD]", "cls_token": "[CLS]", "mask_token": "[MASK]",
	}, "", "  ")
	files := []namedFile{
		{name: TokenizerConfigFile, data: append(tcJSON, '\n')},
		{name: SpecialTokensFile, data: append(special, '\n')},
	}
	if vocab != nil {
		files = append(files, namedFile{name: VocabFile, data: vocab})
	}
	for name, data := range extra {
		if filepath.Base(name) != name {
			return nil, fmt.Errorf("extra file %q is not a plain file name", name)
		}
		files = append(files, namedFile{name: name, data: data})
	}
	return files, nil
}

// CopyFolder copies the regular files of src (not sub-folders, not the names in except) into dst with atomicfile,
// creating dst when needed. Training uses it to copy the best checkpoint, less its optimizer state, to the output
// folder.
func CopyFolder(src, dst string, except ...string) error {
	entries, err := os.ReadDir(src)
	if err != nil {
		return fmt.Errorf("copy[%s]: %w", src, err)
	}
	if err := os.MkdirAll(dst, 0o755); err != nil {
		return fmt.Errorf("copy[%s]: %w", dst, err)
	}
	// Weights last, so a reader of dst sees the new config with the old weights only transiently.
	var last []os.DirEntry
	for _, e := range entries {
		if !e.Type().IsRegular() || slices.Contains(except, e.Name()) {
			continue
		}
		if e.Name() == SafetensorsFile || e.Name() == AdapterWeightsFile {
			last = append(last, e)
			continue
		}
		if err := copyOne(src, dst, e.Name()); err != nil {
			return err
		}
	}
	for _, e := range last {
		if err := copyOne(src, dst, e.Name()); err != nil {
			return err
		}
	}
	atomicfile.SyncDir(dst)
	return nil
}

func copyOne(src, dst, name string) error {
	in, err := os.Open(filepath.Join(src, name))
	if err != nil {
		return fmt.Errorf("copy[%s]: %w", filepath.Join(src, name), err)
	}
	defer in.Close()
	if err := atomicfile.WriteFrom(filepath.Join(dst, name), 0o644, func(w io.Writer) error {
		_, err := io.Copy(w, in)
		return err
	}); err != nil {
		return fmt.Errorf("copy[%s]: %w", filepath.Join(dst, name), err)
	}
	return nil
}
