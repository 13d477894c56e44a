package sandbox

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/whetml/whet/wasm/abi"
)

// EvaluateRequest is the input of an evaluate module: true labels, predictions, optional probabilities and label
// names.
type EvaluateRequest = abi.EvaluateRequest

// Evaluator runs an evaluate module on a pool of instances. It is safe for concurrent use; Close it when done.
type Evaluator struct {
	name string
	pool *pool
}

// NewEvaluator instantiates mod, an evaluate module.
//
// # Errors
//
// ErrWrongKind for a preprocess module; the instantiation failures of Compile.
func (rt *Runtime) NewEvaluator(ctx context.Context, mod *Compiled) (*Evaluator, error) {
	if mod == nil {
		return nil, errNilModule
	}
	if err := mod.checkKind(abi.KindEvaluate); err != nil {
		return nil, err
	}
	p, err := newPool(ctx, mod, abi.InitRequest{}.Append(nil))
	if err != nil {
		return nil, err
	}
	return &Evaluator{name: mod.info.Name, pool: p}, nil
}

// Close releases the Evaluator's instances. It is idempotent.
func (e *Evaluator) Close(ctx context.Context) error { return e.pool.close(ctx) }

// Evaluate returns the module's metrics document (for classification-metrics, the document of docs/contracts.md).
//
// # Errors
//
// A *CallError naming the module and whet_evaluate: the module's own error (ErrModuleError, for example labels
// outside the label names), a timeout, trap, out-of-memory, or a result that is not JSON (ErrBadResult).
func (e *Evaluator) Evaluate(ctx context.Context, req EvaluateRequest) (json.RawMessage, error) {
	in, err := req.Append(nil)
	if err != nil {
		return nil, fmt.Errorf("module[%s] function[%s]: %w", e.name, abi.ExportEvaluate, err)
	}
	var doc json.RawMessage
	err = e.pool.do(ctx, func(inst *instance) error {
		body, err := inst.call(ctx, abi.ExportEvaluate, in)
		if err != nil {
			return err
		}
		if !json.Valid(body) {
			inst.dead = true
			return inst.fail(abi.ExportEvaluate, fmt.Errorf("%w: the metrics document is not valid JSON", ErrBadResult))
		}
		doc = body
		return nil
	})
	return doc, err
}
