package checkpoint

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/whetml/whet/internal/atomicfile"
	"io/fs"
	"os"
	"path/filepath"

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
			if err := atomicfile.Write(filepath.Join(tmp, f.name), f.data, 0o644); err != nil {
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
		if err := atomicfile.Write(filepath.Join(dir, f.name), f.data, 0o644); err != nil {
			return fmt.Errorf("model[%s]: %w", dir, err)
		}
	}
	atomicfile.SyncDir(dir)
	return nil
}

type namedFile struct {
	name string
	data []byte
}

func folderFiles(opts SaveOptions) ([]namedFile, error) {
	if err := opts.Config.Validate(); err != nil {
		return nil, err
	}
	cfgJSON, err := json.MarshalIndent(opts.Config, "", "  ")
	if err != nil {
		return nil, err
	}
	tc := map[string]any{}
	for k, v := range opts.TokenizerConfig {
		tc[k] = v
	}
	tc["do_lower_case"] = opts.DoLowerCase
	defaults := map[string]any{
		"tokenizer_class":  "BertTokenizer",
		"model_max_length": opts.Config.MaxPositionEmbeddings,
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
	raws := make([]RawTensor, len(opts.Tensors))
	for i, t := range opts.Tensors {
		n := int64(1)
		for _, d := range t.Shape {
			n *= d
		}
		if n != int64(len(t.Values)) {
			return nil, fmt.Errorf("tensor[%s]: %d values for shape %v", t.Name, len(t.Values), t.Shape)
		}
		raws[i] = F32Tensor(t.Name, t.Shape, t.Values)
	}
	var wbuf bytes.Buffer
	if err := WriteSafetensors(&wbuf, raws, map[string]string{"format": "pt"}); err != nil {
		return nil, err
	}
	files := []namedFile{
		{ConfigFile, append(cfgJSON, '\n')},
		{TokenizerConfigFile, append(tcJSON, '\n')},
		{SpecialTokensFile, append(special, '\n')},
	}
	if opts.Vocab != nil {
		files = append(files, namedFile{VocabFile, opts.Vocab})
	}
	for name, data := range opts.Extra {
		if filepath.Base(name) != name {
			return nil, fmt.Errorf("extra file %q is not a plain file name", name)
		}
		files = append(files, namedFile{name, data})
	}
	// Weights last.
	files = append(files, namedFile{SafetensorsFile, wbuf.Bytes()})
	return files, nil
}

// CopyFolder copies the regular files of src (not sub-folders) into dst with atomicfile.Write, creating dst when
// needed. Training uses it to copy the best checkpoint to the output folder.
func CopyFolder(src, dst string) error {
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
		if !e.Type().IsRegular() {
			continue
		}
		if e.Name() == SafetensorsFile {
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
	b, err := os.ReadFile(filepath.Join(src, name))
	if err != nil {
		return fmt.Errorf("copy[%s]: %w", filepath.Join(src, name), err)
	}
	if err := atomicfile.Write(filepath.Join(dst, name), b, 0o644); err != nil {
		return fmt.Errorf("copy[%s]: %w", filepath.Join(dst, name), err)
	}
	return nil
}
