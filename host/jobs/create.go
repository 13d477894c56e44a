package jobs

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/whetml/whet/host/modeldir"
	"github.com/whetml/whet/host/store"
	"github.com/whetml/whet/sdk"
)

// Create checks req, records the job in validating_files and wakes the scheduler.
//
// # Errors
//
// A *ValidationError naming the bad field (missing model or training_file, bad suffix, bad hyperparameter, a
// module of the wrong kind, a model folder that is no longer valid), or a *ParamError wrapping a
// *store.NotFoundError for an unknown model, file or module id.
func (q *Queue) Create(ctx context.Context, req sdk.CreateJobRequest) (*store.Job, error) {
	if req.Model == "" {
		return nil, &ValidationError{Param: "model", Msg: "required: the id of a registered model (GET /v1/models)"}
	}
	if req.TrainingFile == "" {
		return nil, &ValidationError{Param: "training_file", Msg: "required: the id of an uploaded file (POST /v1/files)"}
	}
	if err := q.st.CheckQuota("fine-tuning job"); err != nil {
		return nil, err
	}
	if req.Suffix != "" && !suffixRE.MatchString(req.Suffix) {
		return nil, &ValidationError{Param: "suffix", Msg: fmt.Sprintf("must be 1 to 40 of letters, digits, '.', '_' and '-', got %q", req.Suffix)}
	}
	model, err := q.checkRefs(ctx, req)
	if err != nil {
		return nil, err
	}
	info, err := modeldir.Inspect(model.Path)
	if err != nil {
		return nil, &ValidationError{Param: "model", Msg: err.Error()}
	}
	if info.Architecture == modeldir.AdapterArchitecture {
		return nil, &ValidationError{Param: "model", Msg: fmt.Sprintf("model[%s] is a LoRA adapter: fine-tune its base model instead", model.ID)}
	}
	hp, err := ResolveHyperparameters(req.Hyperparameters, info.MaxPositionEmbeddings)
	if err != nil {
		return nil, err
	}
	maxAttempts, err := q.attempts(req.MaxAttempts)
	if err != nil {
		return nil, err
	}
	id := store.NewID("ftjob-")
	j := &store.Job{Job: sdk.Job{ID: id, Object: sdk.ObjectJob, CreatedAt: time.Now().Unix(), Model: req.Model,
		TrainingFile: req.TrainingFile, ValidationFile: req.ValidationFile, PreprocessModule: req.PreprocessModule,
		EvaluateModule: req.EvaluateModule, Hyperparameters: hp, Suffix: req.Suffix, Status: string(ValidatingFiles),
		MaxAttempts: maxAttempts},
		OutDir: q.st.Path("jobs", id, "out")}
	if err := q.st.InsertJob(ctx, j); err != nil {
		var nf *store.NotFoundError
		if errors.As(err, &nf) {
			param := map[string]string{"model": "model", "module": "preprocess_module", "file": "training_file"}[nf.Kind]
			if nf.ID == req.ValidationFile {
				param = "validation_file"
			} else if nf.ID == req.EvaluateModule {
				param = "evaluate_module"
			}
			return nil, &ParamError{Param: param, Err: err}
		}
		return nil, err
	}
	q.event(ctx, id, sdk.JobEvent{Type: sdk.EventStatus, Message: "created fine-tuning job",
		Data: &sdk.EventData{Status: string(ValidatingFiles)}})
	q.log.Info("job created", "job_id", id, "model", req.Model, "training_file", req.TrainingFile)
	nj, err := q.st.GetJob(ctx, id) // as created: read before the scheduler may move it on
	q.nudge()
	return nj, err
}

// checkRefs returns the model req names after checking that it, the files and the modules of the right kinds exist.
func (q *Queue) checkRefs(ctx context.Context, req sdk.CreateJobRequest) (*store.Model, error) {
	model, err := q.st.GetModel(ctx, req.Model)
	if err != nil {
		return nil, &ParamError{Param: "model", Err: err}
	}
	for _, ref := range []struct{ param, id string }{{"training_file", req.TrainingFile}, {"validation_file", req.ValidationFile}} {
		if ref.id == "" {
			continue
		}
		if _, err := q.st.GetFile(ctx, ref.id); err != nil {
			return nil, &ParamError{Param: ref.param, Err: err}
		}
	}
	for _, ref := range []struct{ param, id, kind string }{
		{"preprocess_module", req.PreprocessModule, sdk.ModuleKindPreprocess},
		{"evaluate_module", req.EvaluateModule, sdk.ModuleKindEvaluate},
	} {
		if ref.id == "" {
			continue
		}
		m, err := q.st.GetModule(ctx, ref.id)
		if err != nil {
			return nil, &ParamError{Param: ref.param, Err: err}
		}
		if m.Kind != ref.kind {
			return nil, &ValidationError{Param: ref.param, Msg: fmt.Sprintf("module[%s] is a %s module, expected %s", m.ID, m.Kind, ref.kind)}
		}
	}
	return model, nil
}

// attempts resolves a request's max_attempts (0: the queue's).
func (q *Queue) attempts(n int) (int, error) {
	switch {
	case n == 0:
		return q.cfg.MaxAttempts, nil
	case n < 1 || n > maxMaxAttempts:
		return 0, &ValidationError{Param: "max_attempts", Msg: fmt.Sprintf("must be 1 to %d (0: the server's %d), got %d",
			maxMaxAttempts, q.cfg.MaxAttempts, n)}
	}
	return n, nil
}
