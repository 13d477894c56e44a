package cluster_test

import (
	"context"
	"net/url"
	"testing"
	"time"

	"github.com/whetml/whet/host/store"
	"github.com/whetml/whet/sdk"
)

// TestServerRestartKeepsRemoteJob stops the whole server (queue, coordinator and embedded NATS) while a worker
// trains, and starts a new one on the same data: the worker's reports reach the new server, which takes the
// running attempt up again; the job finishes on the same worker in its first attempt.
func TestServerRestartKeepsRemoteJob(t *testing.T) {
	e := newEnv(t)
	e.worker("wrk-a", "FAKEWHET_STEPS=20", "FAKEWHET_STEP_DELAY_MS=100")
	j := e.create(sdk.Hyperparameters{})
	e.wait(j.ID, func(j *store.Job) bool { return j.TrainedSteps >= 3 })

	e.restart()
	at := mustJob(t, e, j.ID).TrainedSteps
	t.Logf("server restarted with the job at step %d", at)
	done := succeeded(t, e, j.ID)
	if done.Worker == nil || *done.Worker != "wrk-a" || done.Attempts != 1 || done.TrainedSteps != 20 {
		t.Fatalf("job: worker %v attempts %d steps %d; want wrk-a, 1 attempt, 20 steps", done.Worker, done.Attempts, done.TrainedSteps)
	}
}

// restart stops the server (queue, coordinator, embedded NATS) and starts a new one on the same data and address.
func (e *env) restart() {
	t := e.t
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := e.q.StopAndCancel(ctx); err != nil {
		t.Fatal(err)
	}
	e.c.Close()
	e.nc.Close()
	e.e.Shutdown()
	u, err := url.Parse(e.e.URL())
	if err != nil {
		t.Fatal(err)
	}
	ec := e.ec
	ec.Addr = u.Host // where the workers reconnect
	e.startServer(ec)
}
