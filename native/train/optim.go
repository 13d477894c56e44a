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

// optim is AdamW (betas 0.9/0.999, eps 1e-8, decoupled weight decay except on biases and LayerNorm weights) with
// global-norm gradient clipping, as the transformers tutorials set up torch.optim.AdamW; torch.AdamW runs it as one
// fused pass per parameter.
type optim struct {
	adamw   *torch.AdamW
	maxNorm float64
}

func newOptim(m *bert.Model, weightDecay, maxNorm float64) (*optim, error) {
	var params []*ts.Tensor
	var decay []float64
	for _, p := range m.Parameters() {
		params = append(params, p.Tensor)
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
	if _, err := o.adamw.Step(lr, o.maxNorm); err != nil {
		return fmt.Errorf("train: optimizer step: %w", err)
	}
	return o.zero()
}

func (o *optim) zero() error {
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
