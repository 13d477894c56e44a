package jobs

import (
	"errors"
	"fmt"
	"path/filepath"
	"regexp"

	"github.com/whetml/whet/host/store"
	"github.com/whetml/whet/internal/atomicfile"
	"github.com/whetml/whet/internal/runspec"
	"github.com/whetml/whet/sdk"
)

// ValidationError is a bad request field. Param names it as in the JSON request
// ("hyperparameters.learning_rate").
type ValidationError struct {
	// Param is the field at fault.
	Param string
	// Msg says what is wrong and what is allowed.
	Msg string
}

// Error implements error.
func (e *ValidationError) Error() string { return fmt.Sprintf("%s: %s", e.Param, e.Msg) }

// ParamError wraps an error about the object a request field refers to (an unknown file id), naming the field.
type ParamError struct {
	// Param is the request field.
	Param string
	// Err is the underlying error (a *store.NotFoundError, say).
	Err error
}

// Error implements error.
func (e *ParamError) Error() string { return fmt.Sprintf("%s: %v", e.Param, e.Err) }

// Unwrap returns Err.
func (e *ParamError) Unwrap() error { return e.Err }

var suffixRE = regexp.MustCompile(`^[A-Za-z0-9._-]{1,40}$`)

// ResolveHyperparameters checks h and returns it with every default filled (internal/runspec: the same defaults and
// checks as `whet train`). maxPositions, when > 0, caps max_seq_length (the model's max_position_embeddings).
func ResolveHyperparameters(h sdk.Hyperparameters, maxPositions int) (sdk.Hyperparameters, error) {
	hp, err := runspec.FromAPI(h)
	if err == nil {
		err = hp.Resolve(maxPositions)
	}
	var fe *runspec.FieldError
	if errors.As(err, &fe) {
		return h, &ValidationError{Param: "hyperparameters." + fe.Name, Msg: fe.Msg}
	}
	if err != nil {
		return h, &ValidationError{Param: "hyperparameters", Msg: err.Error()}
	}
	return hp.API(), nil
}

// writeSpec writes the run specification of job j (its data, modules and hyperparameters) to DATA/jobs/<id>/spec.json
// and returns its path: the trainer's `--spec`.
func writeSpec(j *store.Job, modelDir string, modules map[string]string, validationSplit float64) (string, error) {
	hp, err := runspec.FromAPI(j.Hyperparameters)
	if err != nil {
		return "", err
	}
	s := runspec.Spec{Model: modelDir, TrainFile: j.TrainPath, ValidationFile: j.ValidationPath, ValidationSplit: validationSplit, OutputDir: j.OutDir,
		PreprocessModule: modules[j.PreprocessModule], EvaluateModule: modules[j.EvaluateModule], Hyperparameters: hp}
	path := filepath.Join(filepath.Dir(j.OutDir), "spec.json")
	return path, atomicfile.Write(path, s.JSON(), 0o644)
}
