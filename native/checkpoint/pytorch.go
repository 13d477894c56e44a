//go:build cgo

package checkpoint

import (
	"fmt"
	"sort"

	"github.com/sugarme/gotch"
	"github.com/sugarme/gotch/pickle"
)

// readPytorch reads a torch.save(state_dict) file (zip or legacy format) through gotch's pickle loader and copies
// every floating tensor to Go memory as float32.
func readPytorch(path string) (out []Tensor, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("weights[%s]: corrupt pytorch file: %v", path, r)
		}
	}()
	named, err := pickle.Decode(path)
	if err != nil {
		return nil, fmt.Errorf("weights[%s]: corrupt pytorch file: %w", path, err)
	}
	defer func() {
		for _, t := range named {
			t.MustDrop()
		}
	}()
	names := make([]string, 0, len(named))
	for n := range named {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		t := named[n]
		switch t.DType() {
		case gotch.Int64, gotch.Int, gotch.Int16, gotch.Int8, gotch.Uint8, gotch.Bool:
			// Integer buffers (position_ids, token_type_ids) are not parameters.
			continue
		}
		shape, err := t.Size()
		if err != nil {
			return nil, fmt.Errorf("weights[%s]: tensor[%s]: %w", path, n, err)
		}
		f, err := t.Totype(gotch.Float, false)
		if err != nil {
			return nil, fmt.Errorf("weights[%s]: tensor[%s]: %w", path, n, err)
		}
		c, err := f.Contiguous(true)
		if err != nil {
			return nil, fmt.Errorf("weights[%s]: tensor[%s]: %w", path, n, err)
		}
		numel := int64(1)
		for _, d := range shape {
			numel *= d
		}
		vals := make([]float32, numel)
		if numel > 0 {
			if err := c.CopyData(vals, uint(numel)); err != nil {
				c.MustDrop()
				return nil, fmt.Errorf("weights[%s]: tensor[%s]: %w", path, n, err)
			}
		}
		c.MustDrop()
		out = append(out, Tensor{Name: n, Shape: shape, Values: vals})
	}
	return out, nil
}
