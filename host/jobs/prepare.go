package jobs

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/whetml/whet/dataset"
	"github.com/whetml/whet/host/store"
	"github.com/whetml/whet/sdk"
)

// prepare checks a validating job's files against each other and points it at their stored rows (StoreRows),
// which its trainer reads as they are: jobs share an upload's rows, none copies them. Without a validation file the
// trainer holds out Config.ValidationFraction of each label's rows (runspec.Spec.ValidationSplit). Then it queues
// the job.
func (q *Queue) prepare(ctx context.Context, j *store.Job) {
	fail := func(param, msg string) {
		if _, err := q.transition(ctx, j.ID, ValidatingFiles, Failed, store.JobChange{Finished: true,
			Error: &sdk.JobError{Code: "invalid_file", Message: msg, Param: &param}}, "error", "job failed: "+msg); err != nil {
			q.log.Error("fail job", "job_id", j.ID, "err", err)
		}
	}
	file := func(param, id string) (*store.File, string, bool) {
		f, err := q.st.GetFile(ctx, id)
		if err == nil {
			var rows string
			if rows, err = q.rows(f); err == nil {
				return f, rows, true
			}
		}
		fail(param, err.Error())
		return nil, "", false
	}
	train, trainPath, ok := file("training_file", j.TrainingFile)
	if !ok {
		return
	}
	if len(train.Labels) < 2 {
		fail("training_file", fmt.Sprintf("file[%s] has a single label %q: a classifier needs at least 2 labels", j.TrainingFile, strings.Join(train.Labels, "")))
		return
	}
	valPath, nTrain, nVal := "", train.Rows, 0
	if j.ValidationFile != "" {
		val, path, ok := file("validation_file", j.ValidationFile)
		if !ok {
			return
		}
		for _, l := range val.Labels {
			if _, known := train.LabelCounts[l]; !known {
				fail("validation_file", fmt.Sprintf("file[%s] line %d: label %q does not occur in training_file (labels: %s)",
					j.ValidationFile, firstLineWithLabel(path, l), l, strings.Join(train.Labels, ", ")))
				return
			}
		}
		valPath, nVal = path, val.Rows
	} else {
		for _, n := range train.LabelCounts {
			nVal += dataset.HeldOut(n, q.cfg.ValidationFraction)
		}
		nTrain -= nVal
		q.event(ctx, j.ID, sdk.JobEvent{Message: fmt.Sprintf("no validation_file: held out %d of %d rows (%g%% per label, seed %d)",
			nVal, train.Rows, q.cfg.ValidationFraction*100, *j.Hyperparameters.Seed)})
	}
	if m, err := q.st.GetModel(ctx, j.Model); err == nil && len(m.Labels) > 0 && !slices.Equal(sortedCopy(m.Labels), sortedCopy(train.Labels)) {
		q.event(ctx, j.ID, sdk.JobEvent{Level: "warn", Message: fmt.Sprintf("model[%s] labels [%s] differ from the training labels [%s]",
			j.Model, strings.Join(m.Labels, ", "), strings.Join(train.Labels, ", "))})
	}
	msg := fmt.Sprintf("files validated: %d training rows, %d validation rows, labels %s", nTrain, nVal,
		strings.Join(train.Labels, ", "))
	if _, err := q.transition(ctx, j.ID, ValidatingFiles, Queued, store.JobChange{TrainPath: &trainPath,
		ValidationPath: &valPath}, "info", msg); err != nil && !errors.Is(err, store.ErrConflict) {
		q.log.Error("queue job", "job_id", j.ID, "err", err)
	}
}

func sortedCopy(s []string) []string {
	c := slices.Clone(s)
	slices.Sort(c)
	return c
}
