//go:build cgo

package train

import (
	"fmt"
	"strings"

	"github.com/sugarme/gotch"
	"github.com/sugarme/gotch/ts"

	"github.com/whetml/whet/native/bert"
	"github.com/whetml/whet/native/torch"
)

// optim is AdamW (libtorch's C++ torch::optim::AdamW: betas 0.9/0.999, eps 1e-8, decoupled weight decay) over a
// model's parameters, as two optimizers: one with weight decay, one without (biases and LayerNorm weights), plus
// global-norm gradient clipping.
type optim struct {
	params         []bert.NamedParam
	decay, nodecay *ts.COptimizer
	maxNorm        float64
}

func newOptim(m *bert.Model, lr, weightDecay, maxNorm float64) (*optim, error) {
	o := &optim{params: m.Parameters(), maxNorm: maxNorm}
	var err error
	if o.decay, err = ts.AdamW(lr, 0.9, 0.999, weightDecay); err != nil {
		return nil, fmt.Errorf("train: adamw: %w", err)
	}
	if o.nodecay, err = ts.AdamW(lr, 0.9, 0.999, 0); err != nil {
		o.decay.Drop()
		return nil, fmt.Errorf("train: adamw: %w", err)
	}
	for _, p := range o.params {
		opt := o.nodecay
		if p.Decay && !strings.Contains(p.Name, "LayerNorm") {
			opt = o.decay
		}
		if err := opt.AddParameter(p.Tensor, 0); err != nil {
			o.close()
			return nil, fmt.Errorf("train: adamw: tensor[%s]: %w", p.Name, err)
		}
	}
	return o, nil
}

// clip scales gradients so their global L2 norm is at most maxNorm (when maxNorm > 0) and returns the norm before
// clipping, as torch.nn.utils.clip_grad_norm_.
func (o *optim) clip() float64 {
	grads := make([]*ts.Tensor, 0, len(o.params))
	norms := make([]ts.Tensor, 0, len(o.params))
	for _, p := range o.params {
		g := p.Tensor.MustGrad(false)
		if !g.MustDefined() {
			g.MustDrop()
			continue
		}
		grads = append(grads, g)
		norms = append(norms, *g.MustNorm(false))
	}
	defer func() {
		for _, g := range grads {
			g.MustDrop()
		}
	}()
	if len(norms) == 0 {
		return 0
	}
	stacked := ts.MustStack(norms, 0)
	for i := range norms {
		norms[i].MustDrop()
	}
	total := stacked.MustNorm(true)
	v := total.MustFloat64Value([]int64{})
	total.MustDrop()
	if o.maxNorm > 0 && v > o.maxNorm {
		s := ts.FloatScalar(o.maxNorm / (v + 1e-6))
		for _, g := range grads {
			g.MustMulScalar_(s)
		}
		s.MustDrop()
	}
	return v
}

// step clips, sets the learning rate, updates the parameters and zeroes the gradients.
func (o *optim) step(lr float64) error {
	o.clip()
	for _, opt := range []*ts.COptimizer{o.decay, o.nodecay} {
		if err := opt.SetLearningRate(lr); err != nil {
			return fmt.Errorf("train: set learning rate: %w", err)
		}
		if err := opt.Step(); err != nil {
			return fmt.Errorf("train: optimizer step: %w", err)
		}
	}
	return o.zero()
}

func (o *optim) zero() error {
	for _, opt := range []*ts.COptimizer{o.decay, o.nodecay} {
		if err := opt.ZeroGrad(); err != nil {
			return fmt.Errorf("train: zero grad: %w", err)
		}
	}
	return nil
}

func (o *optim) close() {
	if o.decay != nil {
		o.decay.Drop()
		o.decay = nil
	}
	if o.nodecay != nil {
		o.nodecay.Drop()
		o.nodecay = nil
	}
}

// device resolves Config.Device.
func device(name string) gotch.Device {
	switch strings.ToLower(name) {
	case "cpu":
		return gotch.CPU
	case "cuda":
		return gotch.CudaIfAvailable()
	}
	return torch.Device()
}
