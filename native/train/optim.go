//go:build cgo

package train

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/sugarme/gotch"
	"github.com/sugarme/gotch/ts"

	"github.com/whetml/whet/internal/atomicfile"
	"github.com/whetml/whet/native/bert"
	"github.com/whetml/whet/native/checkpoint"
	"github.com/whetml/whet/native/torch"
)

// optim is AdamW (betas 0.9/0.999, eps 1e-8, decoupled weight decay except on biases and LayerNorm weights) with
// global-norm gradient clipping, as the transformers tutorials set up torch.optim.AdamW; torch.AdamW runs it as one
// fused pass per parameter.
//
// With float16 autocast it also scales the loss (lossScale > 0): dynamic loss scaling as torch.amp.GradScaler's
// defaults (start at 2^16, halve and skip the update on an inf/NaN gradient, double after 2000 good steps). The
// scale restarts at 2^16 on --resume.
type optim struct {
	adamw     *torch.AdamW
	maxNorm   float64
	lossScale float64 // 0: no loss scaling
	goodSteps int     // updates since lossScale last changed
}

// Dynamic loss scaling constants (torch.amp.GradScaler's defaults).
const (
	initLossScale   = 65536.0
	lossScaleGrowth = 2000
)

// newOptim sets up AdamW over ps (the model's parameters, or an adapter's).
func newOptim(ps []bert.NamedParam, weightDecay, maxNorm float64) (*optim, error) {
	var params []*ts.Tensor
	var decay []float64
	for _, p := range ps {
		params = append(params, p.Tensor())
		if p.Decay && !strings.Contains(p.Name, "LayerNorm") {
			decay = append(decay, weightDecay)
		} else {
			decay = append(decay, 0)
		}
	}
	a, err := torch.NewAdamW(params, decay)
	if err != nil {
		return nil, fmt.Errorf("train: %w", err)
	}
	return &optim{adamw: a, maxNorm: maxNorm}, nil
}

// step clips, updates the parameters at learning rate lr and drops the gradients.
func (o *optim) step(lr float64) error {
	if o.lossScale > 0 {
		skipped, err := o.adamw.StepScaled(lr, o.maxNorm, o.lossScale)
		if err != nil {
			return fmt.Errorf("train: optimizer step: %w", err)
		}
		o.goodSteps++
		if skipped {
			o.lossScale, o.goodSteps = o.lossScale/2, 0
		} else if o.goodSteps == lossScaleGrowth {
			o.lossScale, o.goodSteps = o.lossScale*2, 0
		}
	} else if err := o.adamw.Step(lr, o.maxNorm); err != nil {
		return fmt.Errorf("train: optimizer step: %w", err)
	}
	if err := o.adamw.ZeroGrad(); err != nil {
		return fmt.Errorf("train: %w", err)
	}
	return nil
}

func (o *optim) close() {
	if o.adamw != nil {
		o.adamw.Close()
		o.adamw = nil
	}
}

// startDevice starts a run on one thread: libtorch's threads (threads; when 0, the count the process last set, adopted
// by this thread), its generators seeded with seed,
// and the device named (Config.Device) resolved.
func startDevice(threads int, seed int64, name string) (gotch.Device, error) {
	if threads > 0 {
		torch.SetThreads(threads)
	} else {
		torch.AdoptThreads()
	}
	torch.ManualSeed(seed)
	return device(name)
}

// device resolves Config.Device (torch.ParseDevice).
func device(name string) (gotch.Device, error) {
	d, err := torch.ParseDevice(name)
	if err != nil {
		return gotch.CPU, fmt.Errorf("train: config field[Device]: %w", err)
	}
	return d, nil
}

// OptimizerFile holds a checkpoint's AdamW state: tensors "exp_avg.NAME" and "exp_avg_sq.NAME" per parameter and
// the update count in the metadata ("step"), as safetensors. It stays in checkpoints/ (the output folder gets the
// model only), so that --resume continues with the same moments, as HF Trainer's optimizer.pt.
const OptimizerFile = "optimizer.safetensors"

// save writes o's state to dir/OptimizerFile, one tensor at a time.
func (o *optim) save(dir string, params []bert.NamedParam) error {
	m, v := o.adamw.Moments()
	var src []checkpoint.TensorSource
	for _, group := range []struct {
		prefix string
		ts     []*ts.Tensor
	}{{"exp_avg.", m}, {"exp_avg_sq.", v}} {
		for i, p := range params {
			t := group.ts[i]
			src = append(src, checkpoint.TensorSource{Name: group.prefix + p.Name, DType: checkpoint.DTypeF32, Shape: p.Shape,
				Data: func() ([]byte, error) {
					vals, err := torch.Float32s(t)
					return checkpoint.F32Bytes(vals), err
				}})
		}
	}
	meta := map[string]string{"step": strconv.FormatInt(o.adamw.Steps(), 10)}
	return atomicfile.WriteFrom(filepath.Join(dir, OptimizerFile), 0o644, func(w io.Writer) error {
		return checkpoint.StreamSafetensors(w, src, meta)
	})
}

// restore loads dir/OptimizerFile. It returns false, nil when the checkpoint has none (written by an older whet).
func (o *optim) restore(dir string, params []bert.NamedParam) (bool, error) {
	path := filepath.Join(dir, OptimizerFile)
	raws, meta, err := checkpoint.ReadSafetensors(path)
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("resume: %w", err) // names the file
	}
	byName := make(map[string]*checkpoint.RawTensor, len(raws))
	for i := range raws {
		byName[raws[i].Name] = &raws[i]
	}
	steps, err := strconv.ParseInt(meta["step"], 10, 64)
	if err != nil || steps < 0 {
		return false, fmt.Errorf("resume[%s]: metadata field[step]: %q is not a step count", path, meta["step"])
	}
	m, v := make([][]float32, len(params)), make([][]float32, len(params))
	for i, p := range params {
		for _, x := range []struct {
			name string
			dst  *[]float32
		}{{"exp_avg." + p.Name, &m[i]}, {"exp_avg_sq." + p.Name, &v[i]}} {
			raw := byName[x.name]
			if raw == nil {
				return false, fmt.Errorf("resume[%s]: tensor[%s]: missing (the checkpoint is of a different model?)", path, x.name)
			}
			if !slices.Equal(raw.Shape, p.Shape) {
				return false, fmt.Errorf("resume[%s]: tensor[%s]: shape %v, the model's parameter is %v", path, x.name, raw.Shape, p.Shape)
			}
			if *x.dst, err = raw.Float32(); err != nil {
				return false, fmt.Errorf("resume[%s]: tensor[%s]: %w", path, x.name, err)
			}
		}
	}
	if err := o.adamw.SetState(steps, m, v); err != nil {
		return false, fmt.Errorf("resume[%s]: %w", path, err)
	}
	return true, nil
}
