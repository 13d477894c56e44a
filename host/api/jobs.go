package api

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/whetml/whet/host/jobs"
	"github.com/whetml/whet/sdk"
)

// CreateJobHandler is POST /v1/fine_tuning/jobs.
func (s *Server) CreateJobHandler(c *fiber.Ctx) error {
	var req sdk.CreateJobRequest
	if err := s.decodeJSON(c, &req); err != nil {
		return err
	}
	j, err := s.q.Create(c.UserContext(), req)
	if err != nil {
		return err
	}
	return c.JSON(j.Job)
}

// ListJobsHandler is GET /v1/fine_tuning/jobs?after=ID&limit=N (newest first; limit default 20, at most 1000).
func (s *Server) ListJobsHandler(c *fiber.Ctx) error {
	limit, err := queryInt(c, "limit", 20, 1, 1000)
	if err != nil {
		return err
	}
	list, more, err := s.st.ListJobs(c.UserContext(), c.Query("after"), int(limit))
	if err != nil {
		return err
	}
	out := sdk.JobList{Object: sdk.ObjectList, Data: []sdk.Job{}, HasMore: more}
	for _, j := range list {
		out.Data = append(out.Data, j.Job)
	}
	return c.JSON(out)
}

// GetJobHandler is GET /v1/fine_tuning/jobs/{id}.
func (s *Server) GetJobHandler(c *fiber.Ctx) error {
	j, err := s.st.GetJob(c.UserContext(), c.Params("id"))
	if err != nil {
		return err
	}
	return c.JSON(j.Job)
}

// CancelJobHandler is POST /v1/fine_tuning/jobs/{id}/cancel; 409 for a finished job.
func (s *Server) CancelJobHandler(c *fiber.Ctx) error {
	j, err := s.q.Cancel(c.UserContext(), c.Params("id"))
	if err != nil {
		return err
	}
	return c.JSON(j.Job)
}

// DeleteJobHandler is DELETE /v1/fine_tuning/jobs/{id}[?delete_model=true]: removes a finished job with its events,
// data and checkpoints, and with delete_model its fine-tuned model (else the model stays usable); 409 while the job
// is not finished.
func (s *Server) DeleteJobHandler(c *fiber.Ctx) error {
	id := c.Params("id")
	model, err := s.q.Delete(c.UserContext(), id, c.QueryBool("delete_model"))
	if err != nil {
		return err
	}
	if model != "" {
		s.pool.Unload(model)
	}
	return c.JSON(sdk.DeleteResponse{ID: id, Object: sdk.ObjectJob, Deleted: true})
}

// JobLogHandler is GET /v1/fine_tuning/jobs/{id}/log: the last output of the job's failed trainer that was not
// protocol events (a crash dump, libtorch messages), as text; 404 when there is none.
func (s *Server) JobLogHandler(c *fiber.Ctx) error {
	j, err := s.st.GetJob(c.UserContext(), c.Params("id"))
	if err != nil {
		return err
	}
	b, err := os.ReadFile(filepath.Join(filepath.Dir(j.OutDir), jobs.TrainerLogFile))
	if errors.Is(err, fs.ErrNotExist) {
		return &Error{Status: 404, Type: "not_found_error", Code: "not_found",
			Message: fmt.Sprintf("job[%s] has no trainer log: one is kept when its trainer fails", j.ID)}
	}
	if err != nil {
		return err
	}
	c.Set(fiber.HeaderContentType, "text/plain; charset=utf-8")
	return c.Send(b)
}

// ListCheckpointsHandler is GET /v1/fine_tuning/jobs/{id}/checkpoints (newest first).
func (s *Server) ListCheckpointsHandler(c *fiber.Ctx) error {
	ctx := c.UserContext()
	id := c.Params("id")
	if _, err := s.st.GetJob(ctx, id); err != nil {
		return err
	}
	cks, err := s.st.ListCheckpoints(ctx, id)
	if err != nil {
		return err
	}
	out := sdk.CheckpointList{Object: sdk.ObjectList, Data: []sdk.Checkpoint{}}
	for _, ck := range cks {
		out.Data = append(out.Data, ck.Checkpoint)
	}
	return c.JSON(out)
}

// streamPage is how many events a stream reads from the store at once.
const streamPage = 500

// JobEventsHandler is GET /v1/fine_tuning/jobs/{id}/events?after=N&limit=N (oldest first; limit default 100, at
// most 1000). With stream=true it sends server-sent events instead: every event after "after" as
// "id: N / event: TYPE / data: JSON", then new ones as they happen, keep-alive comments while idle, and
// "data: [DONE]" once the job is finished and every event was sent.
func (s *Server) JobEventsHandler(c *fiber.Ctx) error {
	ctx := c.UserContext()
	id := strings.Clone(c.Params("id")) // used by the stream writer after the handler returns
	if _, err := s.st.GetJob(ctx, id); err != nil {
		return err
	}
	after, err := queryInt(c, "after", 0, 0, 1<<62)
	if err != nil {
		return err
	}
	if c.Query("stream") != "true" {
		limit, err := queryInt(c, "limit", 100, 1, 1000)
		if err != nil {
			return err
		}
		evs, more, err := s.st.ListEvents(ctx, id, after, int(limit))
		if err != nil {
			return err
		}
		return c.JSON(sdk.JobEventList{Object: sdk.ObjectList, Data: evs, HasMore: more})
	}
	c.Set(fiber.HeaderContentType, "text/event-stream")
	c.Set(fiber.HeaderCacheControl, "no-cache")
	c.Set(fiber.HeaderConnection, "keep-alive")
	c.Set("X-Accel-Buffering", "no")
	notify, unsubscribe := s.q.Subscribe(id) // before the first read: no event can slip between
	s.streams.Add(1)
	c.Context().SetBodyStreamWriter(func(w *bufio.Writer) {
		defer s.streams.Add(-1)
		defer unsubscribe()
		if err := s.stream(w, id, after, notify); err != nil {
			s.log.Debug("event stream ended", "job_id", id, "err", err)
		}
	})
	return nil
}

// stream writes the job's events as SSE until the job is finished, the client goes away or the server closes.
func (s *Server) stream(w *bufio.Writer, id string, after int64, notify <-chan struct{}) error {
	ctx := s.baseCtx
	keepAlive := time.NewTicker(s.cfg.KeepAlive)
	defer keepAlive.Stop()
	finished := false
	for {
		evs, more, err := s.st.ListEvents(ctx, id, after, streamPage)
		if err != nil {
			return err
		}
		for _, ev := range evs {
			data, err := json.Marshal(ev)
			if err != nil {
				return err
			}
			fmt.Fprintf(w, "id: %d\nevent: %s\ndata: %s\n\n", ev.ID, ev.Type, data)
			after = ev.ID
		}
		if len(evs) > 0 {
			if err := w.Flush(); err != nil {
				return err // client gone
			}
		}
		if more {
			continue
		}
		if finished {
			// The job was already terminal before this read, so no event can follow.
			fmt.Fprint(w, "data: [DONE]\n\n")
			return w.Flush()
		}
		j, err := s.st.GetJob(ctx, id)
		if err != nil {
			return err
		}
		if jobs.State(j.Status).Terminal() {
			finished = true
			continue // read once more: events written before the final status are all in now
		}
		select {
		case <-notify:
		case <-keepAlive.C:
			fmt.Fprint(w, ": keep-alive\n\n")
			if err := w.Flush(); err != nil {
				return err
			}
		case <-s.stopping:
			return nil
		}
	}
}
