package cluster

import (
	"context"
	"errors"
	"strings"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/whetml/whet/host/jobs"
	"github.com/whetml/whet/host/store"
)

// jobInputs lists job j's input files as archive entries named as the trainer's input folder has them: the
// training and validation files and the preprocess and evaluate modules.
func (c *Coordinator) jobInputs(ctx context.Context, j *store.Job) ([]tarFile, error) {
	files := []tarFile{{"train.jsonl", j.TrainPath}}
	if j.ValidationPath != "" {
		files = append(files, tarFile{"validation.jsonl", j.ValidationPath})
	}
	for _, m := range []struct{ id, name string }{{j.PreprocessModule, "preprocess.wasm"}, {j.EvaluateModule, "evaluate.wasm"}} {
		if m.id == "" {
			continue
		}
		mod, err := c.st.GetModule(ctx, m.id)
		if err != nil {
			return nil, err
		}
		files = append(files, tarFile{m.name, mod.Path})
	}
	return files, nil
}

// objInputFile names the archive of one input file by its fingerprint: the jobs on one dataset share one archive in
// the bucket.
func objInputFile(f tarFile) (string, error) {
	fp, err := fingerprint([]tarFile{f})
	if err != nil {
		return "", err
	}
	return "inputs/" + fp + ".tar", nil
}

// inputObjects returns the names of job j's input archives.
func (c *Coordinator) inputObjects(ctx context.Context, j *store.Job) ([]string, error) {
	files, err := c.jobInputs(ctx, j)
	if err != nil {
		return nil, err
	}
	names := make([]string, len(files))
	for i, f := range files {
		if names[i], err = objInputFile(f); err != nil {
			return nil, err
		}
	}
	return names, nil
}

// putInputs uploads the input archives of job j that the bucket lacks: a dataset shared by many jobs (a
// hyperparameter sweep) goes up once.
func (c *Coordinator) putInputs(ctx context.Context, j *store.Job) error {
	c.inputsMu.Lock()
	defer c.inputsMu.Unlock()
	files, err := c.jobInputs(ctx, j)
	if err != nil {
		return err
	}
	for _, f := range files {
		obj, err := objInputFile(f)
		if err != nil {
			return err
		}
		_, err = c.obs.GetInfo(ctx, obj)
		if errors.Is(err, jetstream.ErrObjectNotFound) {
			err = putFiles(ctx, c.obs, obj, []tarFile{f})
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// dropUnusedInputs deletes the input archives that no queued or running job uses. It keeps them all when it cannot
// tell (a store error): an archive deleted under a job would fail it.
func (c *Coordinator) dropUnusedInputs(ctx context.Context) {
	c.inputsMu.Lock() // no upload in between: a job dispatched meanwhile finds its archives, or uploads them
	defer c.inputsMu.Unlock()
	used := map[string]bool{}
	for _, st := range []jobs.State{jobs.Queued, jobs.Running} {
		js, err := c.st.JobsWithStatus(ctx, string(st))
		if err != nil {
			return
		}
		for _, j := range js {
			names, err := c.inputObjects(ctx, j)
			if err != nil {
				return
			}
			for _, n := range names {
				used[n] = true
			}
		}
	}
	infos, err := c.obs.List(ctx)
	if err != nil {
		return
	}
	for _, info := range infos {
		if strings.HasPrefix(info.Name, "inputs/") && !used[info.Name] {
			_ = c.obs.Delete(ctx, info.Name)
		}
	}
}
