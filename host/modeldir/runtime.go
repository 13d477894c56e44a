package modeldir

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
)

// Files of a model folder that say how to run it (besides config.json and the weights).
const (
	// VocabFile is the WordPiece vocabulary (one token per line).
	VocabFile = "vocab.txt"
	// TokenizerJSONFile is a HuggingFace tokenizers file.
	TokenizerJSONFile = "tokenizer.json"
	// TokenizerConfigFile holds do_lower_case and model_max_length.
	TokenizerConfigFile = "tokenizer_config.json"
	// PreprocessModuleFile is the preprocess module a folder was trained with (when it was not a built-in).
	PreprocessModuleFile = "preprocess.wasm"
	// ModelMaxLengthKey is tokenizer_config.json's key for the sequence length a folder was trained with
	// (HuggingFace's name for it).
	ModelMaxLengthKey = "model_max_length"
	// MaxLengthCap bounds the default sequence length of a folder that records none.
	MaxLengthCap = 512
	// DefaultMaxPositionEmbeddings is max_position_embeddings when config.json has none (HF BertConfig's default).
	DefaultMaxPositionEmbeddings = 512
)

// Runtime is how a model or adapter folder is run: the facts the trainer, the predict worker, `whet predict/eval`
// and the API read, from this one place.
type Runtime struct {
	// Dir is the folder read; TokenizerDir the one whose tokenizer files are used (an adapter without its own
	// vocab.txt or tokenizer.json tokenizes as its base).
	Dir, TokenizerDir string
	// Base is an adapter's base model folder ("" for a model folder).
	Base string
	// Labels are config.json's id2label values in id order (an adapter's: whet_adapter.json's, else its base's).
	Labels []string
	// MaxPositionEmbeddings is config.json's max_position_embeddings (an adapter's base's).
	MaxPositionEmbeddings int
	// MaxLength is the tokens per row to use: tokenizer_config.json's model_max_length (the length the folder was
	// trained with) capped by MaxPositionEmbeddings, else min(MaxLengthCap, MaxPositionEmbeddings).
	MaxLength int
	// DoLowerCase is tokenizer_config.json's do_lower_case (true when absent, as for BertTokenizer).
	DoLowerCase bool
	// Vocab and TokenizerJSON are the tokenizer files' bytes (nil when absent; at least one is present).
	Vocab, TokenizerJSON []byte
	// PreprocessModule is the path of the tokenizer folder's preprocess.wasm, "" when it has none (the built-in
	// bert-wordpiece is used).
	PreprocessModule string
}

// ReadRuntime reads the runtime facts of a model folder (config.json, tokenizer_config.json, the tokenizer files and
// preprocess.wasm), or of an adapter folder on the base its adapter_config.json names (ReadAdapterRuntime). Its
// errors are *Error naming the file.
func ReadRuntime(dir string) (*Runtime, error) {
	if IsAdapter(dir) {
		return ReadAdapterRuntime(dir, "")
	}
	info, err := readConfig(dir)
	if err != nil {
		return nil, err
	}
	if info.MaxPositionEmbeddings == 0 {
		info.MaxPositionEmbeddings = DefaultMaxPositionEmbeddings // as HF's BertConfig, and native/bert, read it
	} else if info.MaxPositionEmbeddings < 0 {
		return nil, &Error{Path: filepath.Join(dir, "config.json"), Msg: "max_position_embeddings is negative"}
	}
	rt := &Runtime{Dir: dir, Labels: info.Labels, MaxPositionEmbeddings: info.MaxPositionEmbeddings}
	if err := rt.readTokenizer(dir); err != nil {
		return nil, err
	}
	if rt.Vocab == nil && rt.TokenizerJSON == nil {
		return nil, &Error{Path: dir, Msg: fmt.Sprintf("no %s or %s to tokenize with", VocabFile, TokenizerJSONFile)}
	}
	return rt, nil
}

// ReadAdapterRuntime reads the runtime facts of the LoRA adapter folder dir on the model folder base ("": its
// adapter_config.json base_model_name_or_path): the base's, but the labels of whet_adapter.json and, when dir has its
// own vocab.txt or tokenizer.json (whet writes them; peft users often save the tokenizer there), dir's tokenizer
// settings, length and preprocess module.
func ReadAdapterRuntime(dir, base string) (*Runtime, error) {
	info, err := inspectAdapter(dir)
	if err != nil {
		return nil, err
	}
	if base == "" {
		base = info.BaseModelPath
	}
	if base == "" || IsAdapter(base) {
		return nil, &Error{Path: filepath.Join(dir, AdapterConfigFile), Msg: fmt.Sprintf("base_model_name_or_path %q is not a model folder", base)}
	}
	b, err := ReadRuntime(base)
	if err != nil {
		return nil, fmt.Errorf("adapter[%s]: base model: %w", dir, err)
	}
	rt := *b
	rt.Dir, rt.Base = dir, base
	if info.Labels != nil {
		rt.Labels = info.Labels
	}
	if fileExists(filepath.Join(dir, VocabFile)) || fileExists(filepath.Join(dir, TokenizerJSONFile)) {
		rt.Vocab, rt.TokenizerJSON, rt.PreprocessModule = nil, nil, ""
		if err := rt.readTokenizer(dir); err != nil {
			return nil, err
		}
	}
	return &rt, nil
}

// readTokenizer sets the tokenizer fields from dir's files.
func (rt *Runtime) readTokenizer(dir string) error {
	rt.TokenizerDir, rt.DoLowerCase = dir, true
	rt.MaxLength = min(MaxLengthCap, rt.MaxPositionEmbeddings)
	tcPath := filepath.Join(dir, TokenizerConfigFile)
	if raw, err := os.ReadFile(tcPath); err == nil {
		var tc struct {
			DoLowerCase    *bool    `json:"do_lower_case"`
			ModelMaxLength *float64 `json:"model_max_length"`
		}
		if err := json.Unmarshal(raw, &tc); err != nil {
			return &Error{Path: tcPath, Msg: "not valid JSON: " + err.Error()}
		}
		if tc.DoLowerCase != nil {
			rt.DoLowerCase = *tc.DoLowerCase
		}
		// HF writes 1e30 for "no limit": compare before converting.
		if n := tc.ModelMaxLength; n != nil && *n > 0 && *n < float64(rt.MaxPositionEmbeddings) {
			rt.MaxLength = int(*n)
		} else if n != nil && *n > 0 {
			rt.MaxLength = rt.MaxPositionEmbeddings
		}
	} else if !errors.Is(err, os.ErrNotExist) {
		return &Error{Path: tcPath, Msg: err.Error()}
	}
	for _, f := range []struct {
		name string
		dst  *[]byte
	}{{VocabFile, &rt.Vocab}, {TokenizerJSONFile, &rt.TokenizerJSON}} {
		b, err := os.ReadFile(filepath.Join(dir, f.name))
		if err != nil && !errors.Is(err, os.ErrNotExist) {
			return &Error{Path: filepath.Join(dir, f.name), Msg: err.Error()}
		}
		*f.dst = b
	}
	if p := filepath.Join(dir, PreprocessModuleFile); fileExists(p) {
		rt.PreprocessModule = p
	}
	return nil
}

// TokenizerFiles returns the names of the tokenizer files of TokenizerDir that exist (vocab.txt, tokenizer.json,
// tokenizer_config.json).
func (rt *Runtime) TokenizerFiles() []string {
	var out []string
	for _, name := range []string{VocabFile, TokenizerJSONFile, TokenizerConfigFile} {
		if fileExists(filepath.Join(rt.TokenizerDir, name)) {
			out = append(out, name)
		}
	}
	return out
}

// fileExists reports whether p is a regular file.
func fileExists(p string) bool {
	st, err := os.Stat(p)
	return err == nil && st.Mode().IsRegular()
}
