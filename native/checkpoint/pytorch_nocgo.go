//go:build !cgo

package checkpoint

import "fmt"

// readPytorch needs gotch's pickle loader (cgo); without cgo only safetensors folders can be read.
func readPytorch(path string) ([]Tensor, error) {
	return nil, fmt.Errorf("weights[%s]: reading pytorch_model.bin needs a cgo build with libtorch; convert to model.safetensors", path)
}
