package api

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"

	"github.com/gofiber/fiber/v2"

	"github.com/whetml/whet/dataset"
	"github.com/whetml/whet/host/modeldir"
	"github.com/whetml/whet/host/sandbox"
	"github.com/whetml/whet/wasm/modules"
)

// Routes the web page (package web) needs to tokenize in the browser with a model's own preprocess module and to
// show example texts (docs/contracts.md, "web"). WebRoutes registers them on the /v1 group:
//
//	GET  /v1/models/{id}/preprocess       the model's preprocessing: module, sha256, do_lower_case, max_length
//	GET  /v1/models/{id}/preprocess.wasm  the module's bytes
//	GET  /v1/models/{id}/files/{name}     vocab.txt, tokenizer_config.json, tokenizer.json or config.json
//	GET  /v1/models/{id}/examples         up to maxExamples {text, label} from the job's validation data
//	POST /v1/models/{id}/tokenize         server-side tokenization with the same module and settings

// maxExamples caps GET /v1/models/{id}/examples.
const maxExamples = 8

// webFiles are the model-folder files the page may read.
var webFiles = map[string]string{
	"vocab.txt":             "text/plain; charset=utf-8",
	"tokenizer_config.json": fiber.MIMEApplicationJSON,
	"tokenizer.json":        fiber.MIMEApplicationJSON,
	"config.json":           fiber.MIMEApplicationJSON,
}

// PreprocessInfo is the body of GET /v1/models/{id}/preprocess: how the server tokenizes for this model.
type PreprocessInfo struct {
	// Module is the preprocess module's id, or "bert-wordpiece" for the built-in.
	Module string `json:"module"`
	// SHA256 is the hex digest of the module's .wasm (GET .../preprocess.wasm).
	SHA256 string `json:"sha256"`
	// DoLowerCase is tokenizer_config.json's do_lower_case (default true).
	DoLowerCase bool `json:"do_lower_case"`
	// MaxLength is the tokens per row the worker uses (modeldir.Runtime.MaxLength: the length the folder was trained
	// with, else min(512, max_position_embeddings)), special tokens included.
	MaxLength int `json:"max_length"`
	// Files lists the model-folder files the module is configured with (GET .../files/{name}).
	Files []string `json:"files"`
}

// Example is one example text of GET /v1/models/{id}/examples.
type Example struct {
	// Text is the input text.
	Text string `json:"text"`
	// Label is its true label.
	Label string `json:"label"`
}

// TokenizeRow is one row of POST /v1/models/{id}/tokenize.
type TokenizeRow struct {
	// InputIDs are the token ids, special tokens included.
	InputIDs []int32 `json:"input_ids"`
	// TokenTypeIDs are the segment ids.
	TokenTypeIDs []int32 `json:"token_type_ids"`
	// AttentionMask is 1 per real token.
	AttentionMask []int32 `json:"attention_mask"`
	// Tokens are the word pieces.
	Tokens []string `json:"tokens"`
	// Error is the row's error ("" = fine).
	Error string `json:"error"`
}

// WebRoutes registers the web page's routes on the /v1 group (already authenticated).
func (s *Server) WebRoutes(v1 fiber.Router) {
	v1.Get("/models/:id/preprocess", s.ModelPreprocessHandler)
	v1.Get("/models/:id/preprocess.wasm", s.ModelPreprocessWasmHandler)
	v1.Get("/models/:id/files/:name", s.ModelFileHandler)
	v1.Get("/models/:id/examples", s.ModelExamplesHandler)
	v1.Post("/models/:id/tokenize", s.TokenizeHandler)
}

// modelPreprocess resolves how a model is preprocessed, as the worker does (modeldir.Runtime): the folder's own
// preprocess.wasm (named by the job's module id when a job made it), else the built-in, and its settings.
func (s *Server) modelPreprocess(ctx context.Context, id string) (*modeldir.Runtime, []byte, PreprocessInfo, error) {
	m, err := s.st.GetModel(ctx, id)
	if err != nil {
		return nil, nil, PreprocessInfo{}, err
	}
	rt, err := s.modelRuntime(ctx, m)
	if err != nil {
		return nil, nil, PreprocessInfo{}, err
	}
	info := PreprocessInfo{Module: modules.NameBertWordPiece, MaxLength: rt.MaxLength, DoLowerCase: rt.DoLowerCase,
		Files: append([]string{}, rt.TokenizerFiles()...)}
	var wasm []byte
	if rt.PreprocessModule == "" {
		wasm, err = modules.BertWordPiece()
	} else if wasm, err = os.ReadFile(rt.PreprocessModule); err == nil {
		info.Module = modeldir.PreprocessModuleFile
		if j, jerr := s.st.GetJob(ctx, m.JobID); m.JobID != "" && jerr == nil && j.PreprocessModule != "" {
			info.Module = j.PreprocessModule
		}
	}
	if err != nil {
		return nil, nil, info, fmt.Errorf("model[%s]: preprocess module: %w", m.ID, err)
	}
	sum := sha256.Sum256(wasm)
	info.SHA256 = hex.EncodeToString(sum[:])
	return rt, wasm, info, nil
}

// ModelPreprocessHandler is GET /v1/models/{id}/preprocess.
func (s *Server) ModelPreprocessHandler(c *fiber.Ctx) error {
	_, _, info, err := s.modelPreprocess(c.UserContext(), c.Params("id"))
	if err != nil {
		return err
	}
	return c.JSON(info)
}

// ModelPreprocessWasmHandler is GET /v1/models/{id}/preprocess.wasm: the exact module the server tokenizes this
// model with.
func (s *Server) ModelPreprocessWasmHandler(c *fiber.Ctx) error {
	_, wasm, info, err := s.modelPreprocess(c.UserContext(), c.Params("id"))
	if err != nil {
		return err
	}
	c.Set(fiber.HeaderContentType, "application/wasm")
	c.Set(fiber.HeaderETag, `"`+info.SHA256+`"`)
	c.Set(fiber.HeaderCacheControl, "private, no-cache")
	return c.Send(wasm)
}

// ModelFileHandler is GET /v1/models/{id}/files/{name} for the tokenizer files in webFiles (an adapter's are those
// its runtime tokenizes with).
func (s *Server) ModelFileHandler(c *fiber.Ctx) error {
	name := c.Params("name")
	ctype, ok := webFiles[name]
	if !ok {
		return &Error{Status: http.StatusNotFound, Type: "not_found_error", Code: "not_found", Param: "name",
			Message: fmt.Sprintf("file %q is not served: only vocab.txt, tokenizer_config.json, tokenizer.json and config.json", name)}
	}
	m, err := s.st.GetModel(c.UserContext(), c.Params("id"))
	if err != nil {
		return err
	}
	dir := m.Path
	if name != "config.json" && modeldir.IsAdapter(dir) {
		rt, err := s.modelRuntime(c.UserContext(), m)
		if err != nil {
			return err
		}
		dir = rt.TokenizerDir // an adapter without its own tokenizer files tokenizes as its base
	}
	path := filepath.Join(dir, name)
	if real, err := filepath.EvalSymlinks(path); err == nil {
		if root, err := filepath.EvalSymlinks(dir); err != nil || !within(real, root) {
			path = "" // a link leading out of the model folder (registered in place before imports were copied)
		}
	}
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) || path == "" {
		return &Error{Status: http.StatusNotFound, Type: "not_found_error", Code: "not_found", Param: "name",
			Message: fmt.Sprintf("model[%s] has no %s", m.ID, name)}
	}
	if err != nil {
		return fmt.Errorf("model[%s]: read %s: %w", m.ID, name, err)
	}
	c.Set(fiber.HeaderContentType, ctype)
	return c.Send(b)
}

// ModelExamplesHandler is GET /v1/models/{id}/examples: texts from the validation data of the job that made the
// model, taken in turn from each label (an empty list for models without a job).
func (s *Server) ModelExamplesHandler(c *fiber.Ctx) error {
	ctx := c.UserContext()
	m, err := s.st.GetModel(ctx, c.Params("id"))
	if err != nil {
		return err
	}
	out := struct {
		Object string    `json:"object"`
		Data   []Example `json:"data"`
	}{Object: "list", Data: []Example{}}
	if m.JobID == "" {
		return c.JSON(out)
	}
	j, err := s.st.GetJob(ctx, m.JobID)
	if err != nil {
		return c.JSON(out) // the job was deleted: no examples
	}
	rows, err := s.q.ValidationRows(j, 64<<20)
	if err != nil {
		return fmt.Errorf("model[%s]: validation data: %w", m.ID, err)
	}
	byLabel := map[string][]dataset.Row{}
	var labels []string
	for _, r := range rows {
		if byLabel[r.Label] == nil {
			labels = append(labels, r.Label)
		}
		byLabel[r.Label] = append(byLabel[r.Label], r)
	}
	dataset.SortLabels(labels)
	for i := 0; len(out.Data) < maxExamples; i++ {
		added := false
		for _, l := range labels {
			if rows := byLabel[l]; i < len(rows) && len(out.Data) < maxExamples {
				out.Data = append(out.Data, Example{Text: rows[i].Text, Label: l})
				added = true
			}
		}
		if !added {
			break
		}
	}
	return c.JSON(out)
}

// TokenizeHandler is POST /v1/models/{id}/tokenize {"inputs":[...]}: the server-side tokenization of texts with
// the model's preprocess module and settings (GET .../preprocess), row by row.
func (s *Server) TokenizeHandler(c *fiber.Ctx) error {
	ctx := c.UserContext()
	var req struct {
		Inputs []string `json:"inputs"`
	}
	if err := s.decodeJSON(c, &req); err != nil {
		return err
	}
	if len(req.Inputs) == 0 || len(req.Inputs) > maxRunInputs {
		return badRequest("inputs", "invalid_value", "inputs must hold 1 to %d texts, got %d", maxRunInputs, len(req.Inputs))
	}
	rt, wasm, info, err := s.modelPreprocess(ctx, c.Params("id"))
	if err != nil {
		return err
	}
	mod, release, err := s.compileRun(c, wasm, len(req.Inputs))
	if err != nil {
		return err
	}
	defer release()
	pre, err := s.rt.NewPreprocessor(ctx, mod, preprocessOptions(rt, info.MaxLength))
	if err != nil {
		return err
	}
	defer pre.Close(ctx)
	res, err := pre.Preprocess(ctx, sandbox.PreprocessRequest{Texts: req.Inputs, MaxLength: info.MaxLength, WithTokens: true})
	if err != nil {
		return err
	}
	out := struct {
		Data []TokenizeRow `json:"data"`
	}{Data: make([]TokenizeRow, len(req.Inputs))}
	for i := range out.Data {
		row := TokenizeRow{}
		if i < len(res.Errors) && res.Errors[i] != "" {
			row.Error = res.Errors[i]
		} else {
			row.InputIDs, row.TokenTypeIDs, row.AttentionMask = res.InputIDs[i], res.TypeIDs[i], res.AttentionMask[i]
			if i < len(res.Tokens) {
				row.Tokens = res.Tokens[i]
			}
		}
		out.Data[i] = row
	}
	return c.JSON(out)
}
