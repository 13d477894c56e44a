package ts

import (
	// "unsafe"

	lib "github.com/sugarme/gotch/libtch"
)

type Scalar struct {
	cscalar lib.Cscalar
}

// FloatScalar creates a float scalar
func FloatScalar(v float64) *Scalar {
	cscalar := lib.AtsFloat(v)
	return &Scalar{cscalar}
}

// Drop sets scalar to zero and frees up C memory
//
// TODO: Really? after running s.Drop() and s.ToInt()
// it returns Zero.
func (sc *Scalar) Drop() (err error) {
	lib.AtsFree(sc.cscalar)
	return TorchErr()
}

func (sc *Scalar) MustDrop() {
	lib.AtsFree(sc.cscalar)
	if err := TorchErr(); err != nil {
		fatal(err)
	}

}
