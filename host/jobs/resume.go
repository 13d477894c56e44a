package jobs

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/whetml/whet/host/store"
	"github.com/whetml/whet/sdk"
)

// checkpointStep reads the step a checkpoint folder was written at (trainer_state.json's global_step).
func checkpointStep(dir string) (int, error) {
	b, err := os.ReadFile(filepath.Join(dir, "trainer_state.json"))
	if err != nil {
		return 0, err
	}
	var st struct {
		GlobalStep int `json:"global_step"`
	}
	if err := json.Unmarshal(b, &st); err != nil {
		return 0, fmt.Errorf("%s: %w", filepath.Join(dir, "trainer_state.json"), err)
	}
	return st.GlobalStep, nil
}

// forgetUndone makes job id's records match a run that restarts at step (0: from the beginning): the step, eval
// and checkpoint events of later steps, written by the attempt that was interrupted, are deleted (the new attempt
// reports those steps again), as are the records of checkpoint folders that no longer exist.
func (q *Queue) forgetUndone(ctx context.Context, id string, step int) {
	n, err := q.st.DropEventsAfterStep(ctx, id, step)
	if err != nil {
		q.log.Error("drop undone events", "job_id", id, "err", err)
	} else if n > 0 {
		q.event(ctx, id, sdk.JobEvent{Message: fmt.Sprintf("%d events of steps after %d, from the interrupted attempt, removed: those steps run again", n, step)})
	}
	if _, err := q.st.ForgetMissingCheckpoints(ctx, id); err != nil {
		q.log.Error("forget removed checkpoints", "job_id", id, "err", err)
	}
}

// Delete removes the finished job id: its records, its data and checkpoints and, with deleteModel, its fine-tuned
// model (otherwise the model's folder stays). It returns the id of the model it deleted, if any.
//
// # Errors
//
// *store.NotFoundError for an unknown id; *StateError while the job is not finished (cancel it first);
// *store.InUseError when deleteModel is set and an unfinished job fine-tunes the model.
func (q *Queue) Delete(ctx context.Context, id string, deleteModel bool) (string, error) {
	j, err := q.st.GetJob(ctx, id)
	if err != nil {
		return "", err
	}
	if !State(j.Status).Terminal() {
		return "", &StateError{ID: id, Status: j.Status, Msg: "only finished jobs can be deleted: cancel it first"}
	}
	if err := q.st.DeleteJob(ctx, id, deleteModel); err != nil {
		var ce *store.ConflictError
		if errors.As(err, &ce) {
			return "", &StateError{ID: id, Status: j.Status, Msg: ce.Msg}
		}
		return "", err
	}
	q.log.Info("job deleted", "job_id", id, "delete_model", deleteModel)
	if deleteModel && j.FineTunedModel != nil {
		return *j.FineTunedModel, nil
	}
	return "", nil
}
