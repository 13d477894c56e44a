package api

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
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

func checkModelID(id string) error {
	if !modelIDRE.MatchString(id) {
		return badRequest("id", "invalid_id", "model id must be 1 to 128 of letters, digits, '.', '_' and '-' (starting with a letter or digit), got %q", id)
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
	if err := checkModelID(id); err != nil {
		return err
	}
	ctx := c.UserContext()
	if _, err := s.st.GetModel(ctx, id); err == nil {
		return &store.ConflictError{Kind: "model", ID: id, Msg: "a model with this id already exists"}
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
	m, err := s.register(ctx, id, "path", staging, info)
	if err != nil {
		return err
	}
	s.log.Info("model imported", "model", id, "from", dir)
	return c.JSON(m.Model)
}

// register moves the checked model folder dir into the data folder's models/ and records it as model id.
func (s *Server) register(ctx context.Context, id, source, dir string, info *modeldir.Info) (*store.Model, error) {
	final := s.st.Path("models", id+"-"+store.NewID("")[:8])
	if err := os.Rename(dir, final); err != nil {
		return nil, fmt.Errorf("model[%s]: move into place: %w", id, err)
	}
	m := &store.Model{Model: sdk.Model{ID: id, Object: sdk.ObjectModel, CreatedAt: time.Now().Unix(), OwnedBy: "user",
		Source: source, Labels: info.Labels, Architecture: info.Architecture}, Path: final, OwnsPath: true}
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
	if err := checkModelID(id); err != nil {
		return err
	}
	ctx := c.UserContext()
	if _, err := s.st.GetModel(ctx, id); err == nil {
		return &store.ConflictError{Kind: "model", ID: id, Msg: "a model with this id already exists"}
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
	m, err := s.register(ctx, id, "upload", root, info)
	if err != nil {
		return err
	}
	s.log.Info("model uploaded", "model", id, "archive", name)
	return c.JSON(m.Model)
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
// owns it) and unloads it; 409 while an unfinished job fine-tunes it.
func (s *Server) DeleteModelHandler(c *fiber.Ctx) error {
	id := c.Params("id")
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
	out, err := s.pool.Evaluate(ctx, m.ID, m.Path, f.Path, predict.EvalOptions{TextColumn: f.TextColumn, LabelColumn: f.LabelColumn})
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
	preds, err := s.predict(ctx, m.ID, m.Path, req.Inputs)
	if err != nil {
		return err
	}
	s.m.observePredict(m.ID, len(req.Inputs), time.Since(start))
	return c.JSON(sdk.PredictResponse(preds))
}
