package api

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/whetml/whet/host/jobs"
	"github.com/whetml/whet/host/modeldir"
	"github.com/whetml/whet/host/predict"
	"github.com/whetml/whet/host/store"
	"github.com/whetml/whet/sdk"
)

var modelIDRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$`)

// newModelID checks that id is a valid model id that no model has yet (400, 409).
func (s *Server) newModelID(ctx context.Context, id string) error {
	if !modelIDRE.MatchString(id) {
		return badRequest("id", "invalid_id", "model id must be 1 to 128 of letters, digits, '.', '_' and '-' (starting with a letter or digit), got %q", id)
	}
	if _, err := s.st.GetModel(ctx, id); err == nil {
		return &store.ConflictError{Kind: "model", ID: id, Msg: "a model with this id already exists"}
	}
	return nil
}

// CreateModelHandler is POST /v1/models: JSON {from_path, id?} copies a folder of the server's disk into the data
// folder (admin scope; import.go); multipart file=archive.tar[.gz] (and optional id) uploads one, extracted safely
// under the data folder.
func (s *Server) CreateModelHandler(c *fiber.Ctx) error {
	if strings.HasPrefix(c.Get(fiber.HeaderContentType), fiber.MIMEMultipartForm) {
		return s.uploadModel(c)
	}
	var req sdk.CreateModelRequest
	if err := s.decodeJSON(c, &req); err != nil {
		return err
	}
	if req.FromPath == "" {
		return badRequest("from_path", "missing_path", "from_path is required: an absolute path to a model folder on the server (or upload a .tar.gz as multipart field \"file\")")
	}
	if err := requireAdmin(c, "from_path (registering a folder of the server's disk; upload a .tar.gz instead)"); err != nil {
		return err
	}
	if !filepath.IsAbs(req.FromPath) {
		return badRequest("from_path", "invalid_path", "from_path must be absolute, got %q", req.FromPath)
	}
	dir := filepath.Clean(req.FromPath)
	id := req.ID
	if id == "" {
		id = filepath.Base(dir)
	}
	ctx := c.UserContext()
	if err := s.newModelID(ctx, id); err != nil {
		return err
	}
	staging, err := s.importFolder(dir)
	if err != nil {
		return err
	}
	defer os.RemoveAll(staging)
	info, err := modeldir.Inspect(staging)
	if err != nil {
		return &Error{Status: 400, Type: "invalid_request_error", Code: "invalid_model", Param: "from_path",
			Message: strings.ReplaceAll(err.Error(), staging, dir)}
	}
	base, err := s.adapterBase(ctx, staging, dir, info, req.BaseModel)
	if err != nil {
		return err
	}
	m, err := s.register(ctx, id, "path", staging, info, base)
	if err != nil {
		return err
	}
	s.log.Info("model imported", "model", id, "from", dir)
	return c.JSON(m.Model)
}

// register moves the checked model folder dir into the data folder's models/ and records it as model id, derived
// from (or, for an adapter, served on) the registered model base when not "".
func (s *Server) register(ctx context.Context, id, source, dir string, info *modeldir.Info, base string) (*store.Model, error) {
	final := s.st.Path("models", id+"-"+store.NewID("")[:8])
	if err := os.Rename(dir, final); err != nil {
		return nil, fmt.Errorf("model[%s]: move into place: %w", id, err)
	}
	m := &store.Model{Model: sdk.Model{ID: id, Object: sdk.ObjectModel, CreatedAt: time.Now().Unix(), OwnedBy: "user",
		Source: source, Labels: info.Labels, Architecture: info.Architecture, BaseModel: base}, Path: final, OwnsPath: true}
	if err := s.st.InsertModel(ctx, m); err != nil {
		os.RemoveAll(final)
		return nil, err
	}
	return m, nil
}

func (s *Server) uploadModel(c *fiber.Ctx) error {
	fm, err := s.readForm(c, "model archive", s.cfg.MaxModelBytes)
	if err != nil {
		return err
	}
	defer fm.discard()
	name := fm.filename
	id := fm.value("id")
	if id == "" {
		id = filepath.Base(name)
		for _, ext := range []string{".tar.gz", ".tgz", ".tar"} {
			id = strings.TrimSuffix(id, ext)
		}
	}
	ctx := c.UserContext()
	if err := s.newModelID(ctx, id); err != nil {
		return err
	}
	src, err := os.Open(fm.file.Path)
	if err != nil {
		return fmt.Errorf("open upload[%s]: %w", name, err)
	}
	defer src.Close()
	staging, err := s.st.TempDir("model-*")
	if err != nil {
		return err
	}
	defer os.RemoveAll(staging)
	root, err := modeldir.Extract(src, staging, s.cfg.MaxModelBytes)
	if err != nil {
		return &Error{Status: 400, Type: "invalid_request_error", Code: "invalid_archive", Param: "file",
			Message: fmt.Sprintf("archive[%s]: %v", name, err)}
	}
	info, err := modeldir.Inspect(root)
	if err != nil {
		return &Error{Status: 400, Type: "invalid_request_error", Code: "invalid_model", Param: "file",
			Message: fmt.Sprintf("archive[%s]: %v", name, err)}
	}
	base, err := s.adapterBase(ctx, root, "archive "+name, info, fm.value("base_model"))
	if err != nil {
		return err
	}
	m, err := s.register(ctx, id, "upload", root, info, base)
	if err != nil {
		return err
	}
	s.log.Info("model uploaded", "model", id, "archive", name)
	return c.JSON(m.Model)
}

// adapterBase returns the registered model the LoRA adapter folder dir (shown to the client as shown) is served on:
// named (the request's base_model), else adapter_config.json's base_model_name_or_path when that is a registered
// model's id; "" for a model folder. The adapter's tensors must fit the base's (modeldir.CheckAdapterFits).
func (s *Server) adapterBase(ctx context.Context, dir, shown string, info *modeldir.Info, named string) (string, error) {
	if info.Architecture != modeldir.AdapterArchitecture {
		if named != "" {
			return "", badRequest("base_model", "invalid_value", "base_model is only for LoRA adapter folders (%s); this is a model folder", modeldir.AdapterConfigFile)
		}
		return "", nil
	}
	if named == "" && info.BaseModelPath == "" {
		return "", badRequest("base_model", "missing_base_model", "the adapter's %s has no base_model_name_or_path: name its registered base model with base_model", modeldir.AdapterConfigFile)
	}
	var base *store.Model
	if named != "" {
		m, err := s.st.GetModel(ctx, named)
		if err != nil {
			return "", badRequest("base_model", "unknown_base_model", "base_model %q is not a registered model: register the base model first (POST /v1/models)", named)
		}
		base = m
	} else {
		m, err := s.st.GetModel(ctx, info.BaseModelPath)
		if err != nil {
			return "", badRequest("base_model", "unknown_base_model", "the adapter's %s base_model_name_or_path %q is not a registered model id: register the base model first, or name it with base_model", modeldir.AdapterConfigFile, info.BaseModelPath)
		}
		base = m
	}
	if base.Architecture == modeldir.AdapterArchitecture {
		return "", badRequest("base_model", "invalid_base_model", "base model %q is itself a LoRA adapter: name the model it adapts", base.ID)
	}
	if err := modeldir.CheckAdapterFits(dir, base.Path); err != nil {
		msg := strings.ReplaceAll(strings.ReplaceAll(err.Error(), dir, shown), base.Path, "model "+base.ID)
		return "", badRequest("", "invalid_adapter", "the adapter cannot be served on base model %q: %s", base.ID, msg)
	}
	return base.ID, nil
}

// servedOn returns the base model that serves adapter m, or nil when m is a model served on its own (an adapter
// registered without a base is served on its base_model_name_or_path folder).
func (s *Server) servedOn(ctx context.Context, m *store.Model) (*store.Model, error) {
	if m.Architecture != modeldir.AdapterArchitecture || m.BaseModel == "" {
		return nil, nil
	}
	base, err := s.st.GetModel(ctx, m.BaseModel)
	if err != nil {
		return nil, &Error{Status: 409, Type: "conflict_error", Code: "missing_base_model",
			Message: fmt.Sprintf("adapter model[%s]: its base model %q is no longer registered: register it again", m.ID, m.BaseModel)}
	}
	return base, nil
}

// modelRuntime reads how model m runs (modeldir.Runtime): an adapter registered on a base runs on that base's folder
// (its adapter_config.json base_model_name_or_path may name a model of another machine).
func (s *Server) modelRuntime(ctx context.Context, m *store.Model) (*modeldir.Runtime, error) {
	base, err := s.servedOn(ctx, m)
	if err != nil {
		return nil, err
	}
	if base != nil {
		return modeldir.ReadAdapterRuntime(m.Path, base.Path)
	}
	return modeldir.ReadRuntime(m.Path)
}

// ListModelsHandler is GET /v1/models.
func (s *Server) ListModelsHandler(c *fiber.Ctx) error {
	models, err := s.st.ListModels(c.UserContext())
	if err != nil {
		return err
	}
	out := sdk.ModelList{Object: sdk.ObjectList, Data: []sdk.Model{}}
	for _, m := range models {
		out.Data = append(out.Data, m.Model)
	}
	return c.JSON(out)
}

// GetModelHandler is GET /v1/models/{id}.
func (s *Server) GetModelHandler(c *fiber.Ctx) error {
	m, err := s.st.GetModel(c.UserContext(), c.Params("id"))
	if err != nil {
		return err
	}
	return c.JSON(m.Model)
}

// DeleteModelHandler is DELETE /v1/models/{id}: unregisters the model (removing its folder when the data folder
// owns it) and unloads it; 409 while an unfinished job fine-tunes it or while LoRA adapter models are served on it.
func (s *Server) DeleteModelHandler(c *fiber.Ctx) error {
	id := c.Params("id")
	models, err := s.st.ListModels(c.UserContext())
	if err != nil {
		return err
	}
	var adapters []string
	for _, m := range models {
		if m.BaseModel == id && m.Architecture == modeldir.AdapterArchitecture {
			adapters = append(adapters, m.ID)
		}
	}
	if len(adapters) > 0 {
		slices.Sort(adapters)
		return &Error{Status: 409, Type: "conflict_error", Code: "in_use",
			Message: fmt.Sprintf("model[%s] is the base of LoRA adapter models %s: delete them (or merge them) first", id, strings.Join(adapters, ", "))}
	}
	if err := s.st.DeleteModel(c.UserContext(), id); err != nil {
		return err
	}
	s.pool.Unload(id)
	s.removeExports(id)
	return c.JSON(sdk.DeleteResponse{ID: id, Object: sdk.ObjectModel, Deleted: true})
}

// EvaluateHandler is POST /v1/models/{id}/evaluate {"file": "file-..."}: the model's metrics document on an uploaded
// labeled file, computed by `whet eval` in a subprocess (predict.Config.Evaluations at a time), bounded by
// Config.EvalTimeout and cancelled when the client goes away.
func (s *Server) EvaluateHandler(c *fiber.Ctx) error {
	m, err := s.st.GetModel(c.UserContext(), c.Params("id"))
	if err != nil {
		return err
	}
	var req sdk.EvaluateRequest
	if err := s.decodeJSON(c, &req); err != nil {
		return err
	}
	if req.File == "" {
		return badRequest("file", "missing_file", "file is required: the id of an uploaded, labeled file")
	}
	f, err := s.st.GetFile(c.UserContext(), req.File)
	if err != nil {
		return &jobs.ParamError{Param: "file", Err: err}
	}
	ctx, cancel := context.WithTimeout(s.baseCtx, s.cfg.EvalTimeout)
	defer cancel()
	defer cancelOnHangup(c, cancel)()
	opts := predict.EvalOptions{TextColumn: f.TextColumn, LabelColumn: f.LabelColumn}
	base, err := s.servedOn(c.UserContext(), m)
	if err != nil {
		return err
	}
	if base != nil {
		opts.Base = base.Path
	}
	out, err := s.pool.Evaluate(ctx, m.ID, m.Path, f.Path, opts)
	var we *predict.WorkerError
	if errors.As(err, &we) {
		// Name the upload, not the server's copy of it.
		we.Msg = strings.ReplaceAll(we.Msg, f.Path, f.Filename)
	}
	if err != nil {
		return err
	}
	c.Set(fiber.HeaderContentType, fiber.MIMEApplicationJSON)
	return c.Send(out)
}

// PredictHandler is POST /v1/models/{id}/predict: {inputs:[...]} -> [{label, score, scores}], batched with
// concurrent requests for the same model.
func (s *Server) PredictHandler(c *fiber.Ctx) error {
	ctx := c.UserContext()
	m, err := s.st.GetModel(ctx, c.Params("id"))
	if err != nil {
		return err
	}
	var req sdk.PredictRequest
	if err := s.decodeJSON(c, &req); err != nil {
		return err
	}
	if len(req.Inputs) == 0 {
		return badRequest("inputs", "invalid_value", "inputs must hold at least one text")
	}
	if len(req.Inputs) > s.cfg.MaxPredictInputs {
		return badRequest("inputs", "too_many_inputs", "inputs holds %d texts; the limit is %d per request", len(req.Inputs), s.cfg.MaxPredictInputs)
	}
	start := time.Now()
	preds, err := s.predict(ctx, m, req.Inputs)
	if err != nil {
		return err
	}
	s.m.observePredict(m.ID, len(req.Inputs), time.Since(start))
	return c.JSON(sdk.PredictResponse(preds))
}

// MergeModelHandler is POST /v1/models/{id}/merge {"id"?}: folds the LoRA adapter model id into its base model
// (peft's merge_and_unload, by `whet model merge` in a subprocess, in turn with evaluations) and registers the result
// as a plain model: source "merge", base_model the adapter's base. 400 for a model that is not an adapter.
func (s *Server) MergeModelHandler(c *fiber.Ctx) error {
	ctx := c.UserContext()
	m, err := s.st.GetModel(ctx, c.Params("id"))
	if err != nil {
		return err
	}
	var req sdk.MergeModelRequest
	if err := s.decodeJSON(c, &req); err != nil {
		return err
	}
	if m.Architecture != modeldir.AdapterArchitecture || m.BaseModel == "" {
		return badRequest("", "not_an_adapter", "model[%s] is not a LoRA adapter registered on a base model: only those merge", m.ID)
	}
	base, err := s.servedOn(ctx, m)
	if err != nil {
		return err
	}
	id := req.ID
	if id == "" {
		id = m.ID + "-merged"
	}
	if err := s.newModelID(ctx, id); err != nil {
		return err
	}
	if err := s.st.CheckQuota("merged model"); err != nil {
		return err
	}
	staging, err := s.st.TempDir("merge-*")
	if err != nil {
		return err
	}
	defer os.RemoveAll(staging)
	out := filepath.Join(staging, "model")
	mctx, cancel := context.WithTimeout(s.baseCtx, s.cfg.EvalTimeout)
	defer cancel()
	defer cancelOnHangup(c, cancel)()
	if err := s.pool.Merge(mctx, m.ID, m.Path, base.Path, out); err != nil {
		return err
	}
	info, err := modeldir.Inspect(out)
	if err != nil {
		return fmt.Errorf("model[%s]: merge wrote no model folder: %w", m.ID, err)
	}
	merged, err := s.register(ctx, id, "merge", out, info, base.ID)
	if err != nil {
		return err
	}
	s.log.Info("adapter merged", "adapter", m.ID, "base", base.ID, "model", id)
	return c.JSON(merged.Model)
}
