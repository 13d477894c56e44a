package api

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"

	"github.com/gofiber/fiber/v2"

	"github.com/whetml/whet/host/store"
)

// ONNX export of a model (docs/contracts.md "export"):
//
//	GET /v1/models/{id}/export?format=onnx[&quantize=int8]  the export folder as an uncompressed tar (files at the
//	                                                        top: config.json, tokenizer files, onnx/model.onnx and,
//	                                                        with quantize=int8, onnx/model_quantized.onnx)
//	GET /v1/models/{id}/export/{file}                       one file of it (what the web page fetches), e.g.
//	                                                        onnx/model_quantized.onnx; ETag, If-None-Match -> 304
//
// The server exports a model once (both variants) into <data>/exports/, keyed by the model and its weights' size and
// time, and serves later requests from there. The export runs in a subprocess (Config.Export, `whet export`: the
// server never imports native/), one at a time (it holds the model's float32 weights: ~440 MB for bert-base);
// other requests wait, bounded by the request timeout.

// exportsDir is the cache folder under the data folder.
const exportsDir = "exports"

// Files of an export folder (export/onnx's layout, which the server does not import).
const (
	exportModelFile     = "onnx/model.onnx"
	exportQuantizedFile = "onnx/model_quantized.onnx"
	// exportVersion is part of the cache key: bump it when `whet export` writes something different.
	exportVersion = "onnx-1"
)

// exportFiles are the files an export folder may hold, in tar order.
var exportFiles = []string{"config.json", "vocab.txt", "tokenizer_config.json", "tokenizer.json",
	"special_tokens_map.json", "preprocess.wasm", exportModelFile, exportQuantizedFile}

// ExportModelError is what Config.Export returns when the model itself cannot be exported (no labels, no classifier,
// an adapter folder): the request gets a 422 with Msg.
type ExportModelError struct {
	// Msg says why, naming the file or key.
	Msg string
}

func (e *ExportModelError) Error() string { return e.Msg }

// exportModelExitCode is the exit status of `whet export` for a model that cannot be exported (cmd/whet).
const exportModelExitCode = 3

// RunExport returns a Config.Export that runs `bin export --model DIR --format onnx --quantize int8 --out DIR` with
// env added to the server's environment. Exit status 3 means the model cannot be exported (*ExportModelError).
func RunExport(bin string, env []string) func(ctx context.Context, modelDir, outDir string) error {
	return func(ctx context.Context, modelDir, outDir string) error {
		cmd := exec.CommandContext(ctx, bin, "export", "--model", modelDir, "--format", "onnx", "--quantize", "int8", "--out", outDir)
		cmd.Env = append(os.Environ(), env...)
		var stderr bytes.Buffer
		cmd.Stderr = &limitedBuffer{b: &stderr, n: 64 << 10}
		err := cmd.Run()
		if err == nil {
			return nil
		}
		msg := lastLine(stderr.String())
		var ee *exec.ExitError
		if errors.As(err, &ee) && ee.ExitCode() == exportModelExitCode {
			return &ExportModelError{Msg: strings.TrimPrefix(msg, "whet export: ")}
		}
		return fmt.Errorf("whet export: %w: %s", err, msg)
	}
}

// limitedBuffer keeps the first n bytes written to it.
type limitedBuffer struct {
	b *bytes.Buffer
	n int
}

func (l *limitedBuffer) Write(p []byte) (int, error) {
	if room := l.n - l.b.Len(); room > 0 {
		l.b.Write(p[:min(len(p), room)])
	}
	return len(p), nil
}

func lastLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.LastIndexByte(s, '\n'); i >= 0 {
		return s[i+1:]
	}
	return s
}

// ExportRoutes registers the export routes on the /v1 group.
func (s *Server) ExportRoutes(v1 fiber.Router) {
	v1.Get("/models/:id/export", s.ExportModelHandler)
	v1.Get("/models/:id/export/*", s.ExportFileHandler)
}

// modelExportDir returns the model's cache folder (one per model id).
func (s *Server) modelExportDir(id string) string {
	sum := sha256.Sum256([]byte(id))
	return s.st.Path(exportsDir, hex.EncodeToString(sum[:12]))
}

// exported returns the model of the request's id, the folder holding its export (made now if the cache has none for
// its current weights) and its cache key.
func (s *Server) exported(c *fiber.Ctx) (*store.Model, string, string, error) {
	m, err := s.st.GetModel(c.UserContext(), c.Params("id"))
	if err != nil {
		return nil, "", "", err
	}
	dir, key, err := s.export(c.UserContext(), m)
	return m, dir, key, err
}

// export makes (or finds) model m's export folder; see exported.
func (s *Server) export(ctx context.Context, m *store.Model) (string, string, error) {
	h := sha256.New()
	fmt.Fprintf(h, "%s\x00%s\x00%s\x00", exportVersion, m.ID, m.Path)
	for _, name := range []string{"config.json", "model.safetensors", "model.safetensors.index.json", "pytorch_model.bin",
		"vocab.txt", "tokenizer_config.json", "tokenizer.json", "preprocess.wasm"} {
		if st, err := os.Stat(filepath.Join(m.Path, name)); err == nil {
			fmt.Fprintf(h, "%s %d %d\x00", name, st.Size(), st.ModTime().UnixNano())
		}
	}
	key := hex.EncodeToString(h.Sum(nil)[:12])
	parent := s.modelExportDir(m.ID)
	dir := filepath.Join(parent, key)
	if _, err := os.Stat(filepath.Join(dir, exportQuantizedFile)); err == nil {
		return dir, key, nil
	}
	select {
	case s.exportSem <- struct{}{}:
		defer func() { <-s.exportSem }()
	case <-ctx.Done():
		return "", "", ctx.Err()
	}
	if _, err := os.Stat(filepath.Join(dir, exportQuantizedFile)); err == nil {
		return dir, key, nil // another request made it while this one waited
	}
	if err := os.MkdirAll(parent, 0o755); err != nil {
		return "", "", fmt.Errorf("export: %w", err)
	}
	tmp, err := os.MkdirTemp(parent, ".tmp-"+key+"-")
	if err != nil {
		return "", "", fmt.Errorf("export: %w", err)
	}
	defer func() {
		_ = os.RemoveAll(tmp) // a no-op once renamed
		_ = os.Remove(parent) // only when empty: a failed first export leaves nothing behind
	}()
	if s.cfg.Export == nil {
		return "", "", &Error{Status: http.StatusNotImplemented, Type: "server_error", Code: "export_unavailable",
			Message: "this server has no exporter configured (api.Config.Export)"}
	}
	if err := s.cfg.Export(ctx, m.Path, tmp); err != nil {
		var me *ExportModelError
		if errors.As(err, &me) {
			return "", "", &Error{Status: http.StatusUnprocessableEntity, Type: "invalid_request_error",
				Code: "model_not_exportable", Param: "id", Message: fmt.Sprintf("model %s cannot be exported: %s", m.ID, me.Msg)}
		}
		return "", "", fmt.Errorf("export model[%s]: %w", m.ID, err)
	}
	if err := os.Rename(tmp, dir); err != nil {
		return "", "", fmt.Errorf("export model[%s]: %w", m.ID, err)
	}
	// Older exports of this model (its weights changed) are stale.
	if old, err := os.ReadDir(parent); err == nil {
		for _, e := range old {
			if e.Name() != key && !strings.HasPrefix(e.Name(), ".tmp-") {
				_ = os.RemoveAll(filepath.Join(parent, e.Name()))
			}
		}
	}
	return dir, key, nil
}

// ExportModelHandler is GET /v1/models/{id}/export?format=onnx[&quantize=int8]: the export folder as a tar stream.
func (s *Server) ExportModelHandler(c *fiber.Ctx) error {
	if f := c.Query("format", "onnx"); f != "onnx" {
		return badRequest("format", "unsupported_format", "format %q is not supported: use onnx", f)
	}
	q := c.Query("quantize")
	if q != "" && q != "int8" {
		return badRequest("quantize", "unsupported_quantize", "quantize %q is not supported: use int8 or leave it out", q)
	}
	m, dir, key, err := s.exported(c)
	if err != nil {
		return err
	}
	var files []string
	for _, name := range exportFiles {
		if name == exportQuantizedFile && q == "" {
			continue
		}
		if _, err := os.Stat(filepath.Join(dir, filepath.FromSlash(name))); err == nil {
			files = append(files, name)
		}
	}
	pr, pw := io.Pipe()
	go func() { pw.CloseWithError(writeTar(pw, dir, files)) }()
	c.Set(fiber.HeaderContentType, "application/x-tar")
	c.Set(fiber.HeaderContentDisposition, fmt.Sprintf(`attachment; filename="%s-onnx.tar"`, safeFilename(m.ID)))
	c.Set(fiber.HeaderETag, `"`+key+q+`"`)
	return c.SendStream(pr)
}

// writeTar writes files (slash paths relative to dir) as a tar archive.
func writeTar(w io.Writer, dir string, files []string) error {
	tw := tar.NewWriter(w)
	for _, name := range files {
		f, err := os.Open(filepath.Join(dir, filepath.FromSlash(name)))
		if err != nil {
			return err
		}
		st, err := f.Stat()
		if err == nil {
			err = tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: st.Size(), ModTime: st.ModTime(), Typeflag: tar.TypeReg})
		}
		if err == nil {
			_, err = io.Copy(tw, f)
		}
		f.Close()
		if err != nil {
			return err
		}
	}
	return tw.Close()
}

// ExportFileHandler is GET /v1/models/{id}/export/{file}: one file of the model's export folder.
func (s *Server) ExportFileHandler(c *fiber.Ctx) error {
	name := c.Params("*")
	if !slices.Contains(exportFiles, name) {
		return &Error{Status: http.StatusNotFound, Type: "not_found_error", Code: "not_found", Param: "file",
			Message: fmt.Sprintf("file %q is not part of an export: one of %s", name, strings.Join(exportFiles, ", "))}
	}
	m, dir, key, err := s.exported(c)
	if err != nil {
		return err
	}
	etag := `"` + key + `"`
	c.Set(fiber.HeaderETag, etag)
	c.Set(fiber.HeaderCacheControl, "private, no-cache")
	if c.Get(fiber.HeaderIfNoneMatch) == etag {
		return c.SendStatus(http.StatusNotModified)
	}
	f, err := os.Open(filepath.Join(dir, filepath.FromSlash(name)))
	if errors.Is(err, os.ErrNotExist) {
		return &Error{Status: http.StatusNotFound, Type: "not_found_error", Code: "not_found", Param: "file",
			Message: fmt.Sprintf("model %s's export has no %s", m.ID, name)}
	}
	if err != nil {
		return fmt.Errorf("export model[%s]: %w", m.ID, err)
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return err
	}
	ctype := "application/octet-stream"
	switch {
	case strings.HasSuffix(name, ".json"):
		ctype = fiber.MIMEApplicationJSON
	case strings.HasSuffix(name, ".txt"):
		ctype = "text/plain; charset=utf-8"
	case strings.HasSuffix(name, ".wasm"):
		ctype = "application/wasm"
	}
	c.Set(fiber.HeaderContentType, ctype)
	return c.SendStream(f, int(st.Size()))
}

// removeExports drops a deleted model's cached exports.
func (s *Server) removeExports(id string) {
	_ = os.RemoveAll(s.modelExportDir(id))
}

// safeFilename keeps a model id usable in a Content-Disposition filename.
func safeFilename(id string) string {
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r == '"' || r == '\\' || r == '/' || r == ':' || r > 0x7e {
			return '_'
		}
		return r
	}, id)
}
