package modeldir

import (
	"archive/tar"
	"bufio"
	"bytes"
	"compress/gzip"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
)

// WeightFiles returns the weight file names a model folder may carry, in order of preference.
func WeightFiles() []string { return []string{"model.safetensors", "pytorch_model.bin"} }

// Info is what the server needs to know about a model folder.
type Info struct {
	// Labels are config.json's id2label values in id order (nil when absent).
	Labels []string
	// Architecture is the first entry of config.json "architectures" ("" when absent).
	Architecture string
	// MaxPositionEmbeddings is config.json max_position_embeddings (0 when absent).
	MaxPositionEmbeddings int
	// Weights is the weight file found.
	Weights string
	// BaseModelPath is an adapter folder's base_model_name_or_path ("" for a model folder).
	BaseModelPath string
}

// Error is a problem with a model folder or archive.
type Error struct {
	// Path is the folder, file or archive entry at fault.
	Path string
	// Msg says what is wrong.
	Msg string
}

// Error implements error.
func (e *Error) Error() string { return fmt.Sprintf("model[%s]: %s", e.Path, e.Msg) }

// Inspect checks that dir is a model folder (config.json that parses, and a weight file), or a LoRA adapter folder
// (adapter_config.json and adapter weights, see IsAdapter), and reads its Info.
func Inspect(dir string) (*Info, error) {
	st, err := os.Stat(dir)
	if err != nil {
		return nil, &Error{Path: dir, Msg: "folder not found or not readable"}
	}
	if !st.IsDir() {
		return nil, &Error{Path: dir, Msg: "not a folder"}
	}
	if IsAdapter(dir) {
		return inspectAdapter(dir)
	}
	info, err := readConfig(dir)
	if err != nil {
		return nil, err
	}
	for _, w := range WeightFiles() {
		if st, err := os.Stat(filepath.Join(dir, w)); err == nil && st.Mode().IsRegular() {
			info.Weights = w
			break
		}
	}
	if info.Weights == "" {
		return nil, &Error{Path: dir, Msg: "no weights: expected model.safetensors or pytorch_model.bin"}
	}
	return info, nil
}

// readConfig reads the Info fields of dir's config.json (not the weights).
func readConfig(dir string) (*Info, error) {
	raw, err := os.ReadFile(filepath.Join(dir, "config.json"))
	if err != nil {
		return nil, &Error{Path: dir, Msg: "config.json missing: a model folder needs config.json and model.safetensors or pytorch_model.bin"}
	}
	var cfg struct {
		Architectures         []string          `json:"architectures"`
		ID2Label              map[string]string `json:"id2label"`
		MaxPositionEmbeddings int               `json:"max_position_embeddings"`
	}
	if err := json.Unmarshal(raw, &cfg); err != nil {
		return nil, &Error{Path: filepath.Join(dir, "config.json"), Msg: "not valid JSON: " + err.Error()}
	}
	info := &Info{MaxPositionEmbeddings: cfg.MaxPositionEmbeddings}
	if len(cfg.Architectures) > 0 {
		info.Architecture = cfg.Architectures[0]
	}
	if len(cfg.ID2Label) > 0 {
		ids := make([]int, 0, len(cfg.ID2Label))
		byID := map[int]string{}
		for k, v := range cfg.ID2Label {
			id, err := strconv.Atoi(k)
			if err != nil {
				return nil, &Error{Path: filepath.Join(dir, "config.json"), Msg: fmt.Sprintf("id2label key %q is not an integer", k)}
			}
			ids = append(ids, id)
			byID[id] = v
		}
		sort.Ints(ids)
		for _, id := range ids {
			info.Labels = append(info.Labels, byID[id])
		}
	}
	return info, nil
}

// Extract unpacks a .tar or .tar.gz archive (detected from its first bytes) read from r into dst, which must be
// an empty folder, writing at most limit bytes of file content. It returns the folder holding config.json (or a LoRA
// adapter's adapter_config.json): dst itself, or the archive's single top-level folder.
//
// # Errors
//
// An *Error naming the entry for: ".." or absolute names, symbolic or hard links, devices, FIFOs, content over
// limit, a corrupt archive, or no config.json or adapter_config.json at the top or one level down.
func Extract(r io.Reader, dst string, limit int64) (string, error) {
	br := bufio.NewReader(r)
	var tr *tar.Reader
	if magic, _ := br.Peek(2); bytes.Equal(magic, []byte{0x1f, 0x8b}) {
		zr, err := gzip.NewReader(br)
		if err != nil {
			return "", &Error{Path: "archive", Msg: "corrupt gzip: " + err.Error()}
		}
		defer zr.Close()
		tr = tar.NewReader(zr)
	} else {
		tr = tar.NewReader(br)
	}
	var written int64
	entries := 0
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return "", &Error{Path: "archive", Msg: "not a valid tar or tar.gz archive: " + err.Error()}
		}
		entries++
		name, err := safeName(h.Name)
		if err != nil {
			return "", err
		}
		if name == "" {
			continue
		}
		n, err := extractEntry(tr, h, filepath.Join(dst, filepath.FromSlash(name)), limit-written)
		written += n
		if err != nil {
			return "", err
		}
		if written > limit {
			return "", &Error{Path: h.Name, Msg: fmt.Sprintf("archive content is larger than the limit of %d bytes", limit)}
		}
	}
	if entries == 0 {
		return "", &Error{Path: "archive", Msg: "empty archive"}
	}
	return extractedRoot(dst)
}

// extractEntry writes the entry h of tr at target, reading at most limit+1 bytes of content; it returns the bytes
// written.
// Folders and regular files are allowed, extended headers skipped, anything else refused.
func extractEntry(tr *tar.Reader, h *tar.Header, target string, limit int64) (int64, error) {
	switch h.Typeflag {
	case tar.TypeDir:
		if err := os.MkdirAll(target, 0o755); err != nil {
			return 0, fmt.Errorf("extract entry[%s]: %w", h.Name, err)
		}
		return 0, nil
	case tar.TypeReg, tar.TypeRegA:
	case tar.TypeSymlink, tar.TypeLink:
		return 0, &Error{Path: h.Name, Msg: fmt.Sprintf("links are not allowed in model archives (link to %q)", h.Linkname)}
	case tar.TypeXGlobalHeader, tar.TypeXHeader:
		return 0, nil
	default:
		return 0, &Error{Path: h.Name, Msg: fmt.Sprintf("entry type %q is not allowed: only folders and regular files", string(h.Typeflag))}
	}
	if err := os.MkdirAll(filepath.Dir(target), 0o755); err != nil {
		return 0, fmt.Errorf("extract entry[%s]: %w", h.Name, err)
	}
	f, err := os.OpenFile(target, os.O_CREATE|os.O_WRONLY|os.O_EXCL, 0o644)
	if err != nil {
		return 0, &Error{Path: h.Name, Msg: "cannot create (duplicate entry?): " + err.Error()}
	}
	n, err := io.Copy(f, io.LimitReader(tr, limit+1))
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return n, &Error{Path: h.Name, Msg: "cannot extract: " + err.Error()}
	}
	return n, nil
}

// extractedRoot returns the model or adapter folder of an extracted archive: dst, or its single top-level folder.
func extractedRoot(dst string) (string, error) {
	if IsModelFolder(dst) {
		return dst, nil
	}
	top, _ := os.ReadDir(dst)
	if len(top) == 1 && top[0].IsDir() {
		root := filepath.Join(dst, top[0].Name())
		if IsModelFolder(root) {
			return root, nil
		}
	}
	return "", &Error{Path: "archive", Msg: "no config.json (or a LoRA adapter's " + AdapterConfigFile + ") at the top of the archive or in its single top-level folder"}
}

// IsModelFolder reports whether dir holds a model folder's config.json or an adapter folder's adapter_config.json.
func IsModelFolder(dir string) bool {
	_, err := os.Stat(filepath.Join(dir, "config.json"))
	return err == nil || IsAdapter(dir)
}

// safeName cleans an archive entry name and refuses anything that could land outside the extraction folder.
func safeName(name string) (string, error) {
	if strings.ContainsRune(name, 0) || strings.Contains(name, `\`) {
		return "", &Error{Path: name, Msg: "entry name has a NUL or backslash"}
	}
	if path.IsAbs(name) || filepath.IsAbs(name) || filepath.VolumeName(name) != "" {
		return "", &Error{Path: name, Msg: "absolute paths are not allowed in model archives"}
	}
	for _, part := range strings.Split(name, "/") {
		if part == ".." {
			return "", &Error{Path: name, Msg: `".." is not allowed in model archive entry names`}
		}
	}
	clean := path.Clean(name)
	if clean == "." {
		return "", nil
	}
	return clean, nil
}
