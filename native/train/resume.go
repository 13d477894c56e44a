//go:build cgo

package train

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/whetml/whet/native/torch"
)

// RNGStateFile holds a checkpoint's random generator state (torch.RNGState as JSON: the CPU generator, which keys
// the dropout masks on CPU, and on CUDA runs each device's generator), as HF Trainer's rng_state.pth. Like
// OptimizerFile it stays in checkpoints/. With it a resumed run draws the same dropout masks as the run that was not
// stopped; the data order needs no state (it is a function of the seed and the epoch).
const RNGStateFile = "rng_state.json"

// rngState returns the content of RNGStateFile for the generators' current state (CUDA ones on a CUDA run).
func (r *run) rngState() ([]byte, error) {
	st, err := torch.GetRNGState(r.dev.IsCuda())
	if err != nil {
		return nil, fmt.Errorf("train: %w", err)
	}
	return json.Marshal(st)
}

// restoreRNG loads dir/RNGStateFile into the generators. It returns false, nil when the checkpoint has none
// (written by an older whet).
func restoreRNG(dir string) (bool, error) {
	p := filepath.Join(dir, RNGStateFile)
	b, err := os.ReadFile(p)
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("resume: %w", err)
	}
	var st torch.RNGState
	if err := json.Unmarshal(b, &st); err != nil {
		return false, fmt.Errorf("resume[%s]: %w", p, err)
	}
	if err := torch.SetRNGState(st); err != nil {
		return false, fmt.Errorf("resume[%s]: %w", p, err)
	}
	return true, nil
}

// resumeState takes the best metric, best checkpoint (and its metrics document) and early-stopping patience from
// a checkpoint's trainer state, so that the resumed run picks its best checkpoint, reports its metrics and stops
// early as the run that was not stopped.
func (r *run) resumeState(st *TrainerState) {
	if st.PatienceLeft != nil && r.cfg.EarlyStoppingPatience > 0 {
		r.patienceLeft = min(*st.PatienceLeft, r.cfg.EarlyStoppingPatience)
	}
	if st.BestMetric != nil && st.MetricForBestModel == r.cfg.MetricForBestModel {
		v := *st.BestMetric
		r.best, r.bestDir = &v, st.BestCheckpoint
		doc := st.Metrics
		if st.BestCheckpoint != filepath.Clean(r.cfg.Resume) {
			best, err := ReadTrainerState(st.BestCheckpoint)
			if err != nil {
				r.log.Warn("resuming: the best checkpoint's metrics are unreadable; the result reports later ones", "err", err)
				return
			}
			doc = best.Metrics
		}
		// trainer_state.json is indented; the run reports metrics as evaluate returned them (compact).
		var b bytes.Buffer
		if len(doc) > 0 && json.Compact(&b, doc) == nil {
			r.bestMetrics = b.Bytes()
		}
	}
}

// restore loads the AdamW state and the generators' state of cfg.Resume; a checkpoint that lacks either resumes
// with a warning (it then continues close to, not exactly as, the run that was not stopped).
func (r *run) restore(step int) error {
	dir := r.cfg.Resume
	opt, err := r.opt.restore(dir, r.trainable())
	if err != nil {
		return err
	}
	rng, err := restoreRNG(dir)
	if err != nil {
		return err
	}
	switch {
	case opt && rng:
		r.log.Info("resuming: weights, step, AdamW and random generator state restored", "checkpoint", dir, "step", step)
	case !opt:
		r.log.Warn("resuming: weights and step restored; the checkpoint has no "+OptimizerFile+", AdamW moments restart from zero",
			"checkpoint", dir, "step", step)
	default:
		r.log.Warn("resuming: the checkpoint has no "+RNGStateFile+": dropout draws differ from the run that was not stopped",
			"checkpoint", dir, "step", step)
	}
	return nil
}
