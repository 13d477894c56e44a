package api

import (
	"context"

	"github.com/gofiber/fiber/v2"

	"github.com/whetml/whet/host/predict"
	"github.com/whetml/whet/host/store"
	"github.com/whetml/whet/sdk"
)

// Cluster is what the /v1/workers routes need from a cluster server (host/cluster.Coordinator).
type Cluster interface {
	// Workers lists the remote workers with their status and running jobs.
	Workers(ctx context.Context) ([]sdk.Worker, error)
	// DrainWorker stops worker id taking new jobs; it exits once its jobs finish.
	DrainWorker(ctx context.Context, id string) error
	// WorkerToken issues new worker credentials.
	WorkerToken(ctx context.Context, name string) (*sdk.WorkerCredentials, error)
	// Predict runs a prediction on a worker serving models; ok=false when none answered (predict locally).
	Predict(ctx context.Context, id, dir string, inputs []string) (preds []sdk.Prediction, ok bool, err error)
	// PredictAdapter is Predict for LoRA adapter a served on base model baseID (folder baseDir).
	PredictAdapter(ctx context.Context, baseID, baseDir string, a predict.Adapter, inputs []string) (preds []sdk.Prediction, ok bool, err error)
}

// predict answers from a remote worker when the cluster has one serving models, else from the local pool. A LoRA
// adapter model is served on its base model's worker (remote or local), which holds the base once for all its
// adapters.
func (s *Server) predict(ctx context.Context, m *store.Model, inputs []string) ([]sdk.Prediction, error) {
	base, err := s.servedOn(ctx, m)
	if err != nil {
		return nil, err
	}
	if base != nil {
		a := predict.Adapter{ID: m.ID, Dir: m.Path}
		if s.cfg.Cluster != nil {
			preds, ok, err := s.cfg.Cluster.PredictAdapter(ctx, base.ID, base.Path, a, inputs)
			if ok || err != nil {
				return preds, err
			}
		}
		return s.pool.PredictAdapter(ctx, base.ID, base.Path, a, inputs)
	}
	if s.cfg.Cluster != nil {
		preds, ok, err := s.cfg.Cluster.Predict(ctx, m.ID, m.Path, inputs)
		if ok || err != nil {
			return preds, err
		}
	}
	return s.pool.Predict(ctx, m.ID, m.Path, inputs)
}

// WorkerRoutes registers GET /v1/workers, POST /v1/workers/tokens and POST /v1/workers/{id}/drain (all admin scope).
func (s *Server) WorkerRoutes(v1 fiber.Router) {
	v1.Get("/workers", s.ListWorkersHandler)
	v1.Post("/workers/tokens", s.CreateWorkerTokenHandler)
	v1.Post("/workers/:id/drain", s.DrainWorkerHandler)
}

// cluster returns the cluster for an admin's request to do what.
func (s *Server) cluster(c *fiber.Ctx, what string) (Cluster, error) {
	if err := requireAdmin(c, what); err != nil {
		return nil, err
	}
	if s.cfg.Cluster == nil {
		return nil, &Error{Status: 404, Type: "not_found_error", Code: "no_cluster",
			Message: "this server runs without remote workers: start it with `whet serve --cluster` (or --nats URL)"}
	}
	return s.cfg.Cluster, nil
}

// ListWorkersHandler is GET /v1/workers: {"object":"list","data":[{"id","host","status","jobs","last_seen"}]}.
func (s *Server) ListWorkersHandler(c *fiber.Ctx) error {
	cl, err := s.cluster(c, "listing workers")
	if err != nil {
		return err
	}
	ws, err := cl.Workers(c.UserContext())
	if err != nil {
		return err
	}
	return c.JSON(sdk.WorkerList{Object: "list", Data: ws})
}

// DrainWorkerHandler is POST /v1/workers/{id}/drain; 404 for an unknown worker.
func (s *Server) DrainWorkerHandler(c *fiber.Ctx) error {
	cl, err := s.cluster(c, "draining a worker")
	if err != nil {
		return err
	}
	ctx := c.UserContext()
	if err := cl.DrainWorker(ctx, c.Params("id")); err != nil {
		return err
	}
	ws, err := cl.Workers(ctx)
	if err != nil {
		return err
	}
	for _, w := range ws {
		if w.ID == c.Params("id") {
			return c.JSON(w)
		}
	}
	return c.JSON(sdk.Worker{ID: c.Params("id"), Object: sdk.ObjectWorker, Status: sdk.WorkerDraining, Jobs: []string{}})
}

// CreateWorkerTokenHandler is POST /v1/workers/tokens {"name"} (a JSON object, "{}" for the default name): new worker credentials (the password is shown
// only in this response). 409 when the server uses an external NATS server, which issues its own.
func (s *Server) CreateWorkerTokenHandler(c *fiber.Ctx) error {
	cl, err := s.cluster(c, "issuing worker credentials")
	if err != nil {
		return err
	}
	var req sdk.CreateWorkerTokenRequest
	if err := s.decodeJSON(c, &req); err != nil {
		return err
	}
	cred, err := cl.WorkerToken(c.UserContext(), req.Name)
	if err != nil {
		return err
	}
	return c.JSON(cred)
}
