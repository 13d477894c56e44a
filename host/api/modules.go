package api

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/whetml/whet/host/modeldir"
	"github.com/whetml/whet/host/sandbox"
	"github.com/whetml/whet/host/store"
	"github.com/whetml/whet/sdk"
)

// maxRunInputs caps the rows of a module dry run.
const maxRunInputs = 1000

// runModuleMaxLength is a preprocess dry run's max_length when the request sets none (sdk.RunModuleRequest).
const runModuleMaxLength = 128

// UploadModuleHandler is POST /v1/modules: multipart file (.wasm), kind=preprocess|evaluate, optional name. The
// module is compiled and checked by the sandbox before it is stored.
func (s *Server) UploadModuleHandler(c *fiber.Ctx) error {
	fm, err := s.readForm(c, "module", s.cfg.MaxModuleBytes)
	if err != nil {
		return err
	}
	defer fm.discard()
	kind := fm.value("kind")
	if kind != sdk.ModuleKindPreprocess && kind != sdk.ModuleKindEvaluate {
		return badRequest("kind", "invalid_kind", "kind must be %q or %q, got %q", sdk.ModuleKindPreprocess, sdk.ModuleKindEvaluate, kind)
	}
	fh := fm.filename
	if fm.file.Size == 0 {
		return badRequest("file", "empty_file", "file[%s] is empty: expected a .wasm module", fh)
	}
	wasm, err := os.ReadFile(fm.file.Path)
	if err != nil {
		return fmt.Errorf("read upload[%s]: %w", fh, err)
	}
	if !bytes.HasPrefix(wasm, []byte("\x00asm")) {
		return badRequest("file", "invalid_module", "file[%s] is not a WebAssembly module (no \\0asm header)", fh)
	}
	release, err := s.moduleRun(c, 1) // Compile runs the module's checks
	if err != nil {
		return err
	}
	mod, err := s.rt.Compile(c.UserContext(), wasm)
	release()
	if err != nil {
		return fmt.Errorf("file[%s]: %w", fh, err)
	}
	info := mod.Info()
	if string(info.Kind) != kind {
		return badRequest("kind", "wrong_kind", "module[%s] declares kind %q but was uploaded as kind %q", info.Name, info.Kind, kind)
	}
	staged := fm.file
	path, err := staged.Commit(s.st, "modules", ".wasm")
	if err != nil {
		return err
	}
	fm.file = nil
	name := fm.value("name")
	if name == "" {
		name = info.Name
	}
	rec := &store.Module{Module: sdk.Module{ID: store.NewID("mod-"), Object: sdk.ObjectModule, Name: name, Kind: kind,
		SHA256: staged.SHA256, ABIVersion: info.ABIVersion, Bytes: staged.Size, CreatedAt: time.Now().Unix()}, Path: path}
	if err := s.st.InsertModule(c.UserContext(), rec); err != nil {
		return err
	}
	s.log.Info("module uploaded", "module_id", rec.ID, "name", name, "kind", kind, "sha256", rec.SHA256)
	return c.JSON(rec.Module)
}

// ListModulesHandler is GET /v1/modules.
func (s *Server) ListModulesHandler(c *fiber.Ctx) error {
	mods, err := s.st.ListModules(c.UserContext())
	if err != nil {
		return err
	}
	out := sdk.ModuleList{Object: sdk.ObjectList, Data: []sdk.Module{}}
	for _, m := range mods {
		out.Data = append(out.Data, m.Module)
	}
	return c.JSON(out)
}

// GetModuleHandler is GET /v1/modules/{id}.
func (s *Server) GetModuleHandler(c *fiber.Ctx) error {
	m, err := s.st.GetModule(c.UserContext(), c.Params("id"))
	if err != nil {
		return err
	}
	return c.JSON(m.Module)
}

// DeleteModuleHandler is DELETE /v1/modules/{id}; 409 while an unfinished job uses the module. The module's compiled
// code and compile cache go with its content.
func (s *Server) DeleteModuleHandler(c *fiber.Ctx) error {
	ctx := c.UserContext()
	id := c.Params("id")
	m, err := s.st.GetModule(ctx, id)
	if err != nil {
		return err
	}
	if err := s.st.DeleteModule(ctx, id); err != nil {
		return err
	}
	if _, err := os.Stat(m.Path); errors.Is(err, fs.ErrNotExist) { // no other module shares the content
		if err := s.rt.Forget(ctx, m.SHA256); err != nil {
			s.log.Warn("module deleted; its compiled code was not all released", "module", id, "err", err)
		}
	}
	return c.JSON(sdk.DeleteResponse{ID: id, Object: sdk.ObjectModule, Deleted: true})
}

// preprocessOutput is what a preprocess dry run returns.
type preprocessOutput struct {
	InputIDs      [][]int32  `json:"input_ids"`
	TokenTypeIDs  [][]int32  `json:"token_type_ids"`
	AttentionMask [][]int32  `json:"attention_mask"`
	Tokens        [][]string `json:"tokens,omitempty"`
	Errors        []string   `json:"errors"`
}

// RunModuleHandler is POST /v1/modules/{id}/run: a dry run in the sandbox. A preprocess module needs "model" (its
// vocab.txt, tokenizer_config.json and tokenizer.json configure the module) and "inputs"; an evaluate module takes
// labels, predictions, optional probabilities and label_names.
func (s *Server) RunModuleHandler(c *fiber.Ctx) error {
	ctx := c.UserContext()
	m, err := s.st.GetModule(ctx, c.Params("id"))
	if err != nil {
		return err
	}
	var req sdk.RunModuleRequest
	if err := s.decodeJSON(c, &req); err != nil {
		return err
	}
	wasm, err := os.ReadFile(m.Path)
	if err != nil {
		return fmt.Errorf("module[%s]: read %s: %w", m.ID, m.Path, err)
	}
	mod, release, err := s.compileRun(c, wasm, max(1, len(req.Inputs)))
	if err != nil {
		return err
	}
	defer release()
	switch m.Kind {
	case sdk.ModuleKindPreprocess:
		if len(req.Inputs) == 0 || len(req.Inputs) > maxRunInputs {
			return badRequest("inputs", "invalid_value", "inputs must hold 1 to %d texts, got %d", maxRunInputs, len(req.Inputs))
		}
		if req.TextPairs != nil && len(req.TextPairs) != len(req.Inputs) {
			return badRequest("text_pairs", "invalid_value", "text_pairs must be as long as inputs (%d), got %d", len(req.Inputs), len(req.TextPairs))
		}
		if req.Model == "" {
			return badRequest("model", "missing_model", "a preprocess module needs \"model\": the registered model whose vocab.txt configures it")
		}
		model, err := s.st.GetModel(ctx, req.Model)
		if err != nil {
			return err
		}
		rt, err := s.modelRuntime(ctx, model)
		if err != nil {
			return err
		}
		maxLength := req.MaxLength
		if maxLength == 0 {
			maxLength = runModuleMaxLength
		}
		pre, err := s.rt.NewPreprocessor(ctx, mod, preprocessOptions(rt, maxLength))
		if err != nil {
			return err
		}
		defer pre.Close(ctx)
		res, err := pre.Preprocess(ctx, sandbox.PreprocessRequest{Texts: req.Inputs, TextPairs: req.TextPairs,
			MaxLength: req.MaxLength, WithTokens: true})
		if err != nil {
			return err
		}
		return c.JSON(preprocessOutput{InputIDs: res.InputIDs, TokenTypeIDs: res.TypeIDs, AttentionMask: res.AttentionMask,
			Tokens: res.Tokens, Errors: res.Errors})
	default:
		n := len(req.Labels)
		if n == 0 || n > 1_000_000 || len(req.Predictions) != n {
			return badRequest("predictions", "invalid_value", "labels and predictions must have the same, non-zero length (got %d and %d)", n, len(req.Predictions))
		}
		ev, err := s.rt.NewEvaluator(ctx, mod)
		if err != nil {
			return err
		}
		defer ev.Close(ctx)
		out, err := ev.Evaluate(ctx, sandbox.EvaluateRequest{Labels: req.Labels, Predictions: req.Predictions,
			Probabilities: req.Probabilities, LabelNames: req.LabelNames})
		if err != nil {
			return err
		}
		c.Set(fiber.HeaderContentType, fiber.MIMEApplicationJSON)
		return c.Send(out)
	}
}

// preprocessOptions configures a preprocess module as the model folder's runtime says (tokenizer files,
// do_lower_case), at maxLength tokens per row.
func preprocessOptions(rt *modeldir.Runtime, maxLength int) sandbox.PreprocessOptions {
	return sandbox.PreprocessOptions{DoLowerCase: rt.DoLowerCase, MaxLength: maxLength, Vocab: rt.Vocab, TokenizerJSON: rt.TokenizerJSON}
}
