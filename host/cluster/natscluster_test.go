package cluster_test

import (
	"context"
	"fmt"
	"net"
	"path/filepath"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/whetml/whet/host/cluster"
	"github.com/whetml/whet/host/jobs"
	"github.com/whetml/whet/host/store"
	"github.com/whetml/whet/sdk"
)

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// TestThreeNodeNATSCluster runs the queue on three embedded NATS servers forming one cluster, with the job stream,
// its consumer and the artifact bucket replicated 3 times; the node leading the job stream is shut down while a
// job trains, and the job still finishes with every step reported once. (A request or reply in flight through the
// node that goes is lost: the worker sends it again after tryTimeout and the server skips what it already has.)
func TestThreeNodeNATSCluster(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	e := newStoreEnv(t)
	routes := make([]string, 3)
	ports := make([]int, 3)
	for i := range ports {
		ports[i] = freePort(t)
		routes[i] = fmt.Sprintf("nats://127.0.0.1:%d", ports[i])
	}
	nodes := map[string]*cluster.Embedded{}
	for i := range 3 {
		n, err := cluster.StartEmbedded(ctx, cluster.EmbeddedConfig{Addr: "127.0.0.1:0", StoreDir: filepath.Join(t.TempDir(), "js"),
			Store: e.st, Name: fmt.Sprintf("n%d", i+1), ClusterName: "whet-test", ClusterAddr: fmt.Sprintf("127.0.0.1:%d", ports[i]),
			Routes: routes, ServerPassword: "shared-secret"})
		if err != nil {
			t.Fatal(err)
		}
		nodes[fmt.Sprintf("n%d", i+1)] = n
		e.urls = append(e.urls, n.URL())
	}
	alive := map[string]bool{"n1": true, "n2": true, "n3": true}
	t.Cleanup(func() {
		for name, n := range nodes {
			if alive[name] {
				n.Shutdown()
			}
		}
	})
	nc, err := nodes["n1"].Connect("test server", e.urls...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	e.startQueue(nc, 3)
	e.worker("wrk-a", "FAKEWHET_STEPS=30", "FAKEWHET_STEP_DELAY_MS=100")
	q := e.q

	j, err := q.Create(ctx, sdk.CreateJobRequest{Model: e.model, TrainingFile: e.file})
	if err != nil {
		t.Fatal(err)
	}
	e.wait(j.ID, func(j *store.Job) bool { return j.TrainedSteps >= 3 || jobs.State(j.Status).Terminal() })
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	s, err := js.Stream(ctx, cluster.StreamJobs)
	if err != nil {
		t.Fatal(err)
	}
	info, err := s.Info(ctx)
	if err != nil || info.Cluster == nil || len(info.Cluster.Replicas) != 2 {
		t.Fatalf("stream %s: %+v, %v; want a leader and 2 replicas", cluster.StreamJobs, info, err)
	}
	leader := info.Cluster.Leader
	nodes[leader].Shutdown()
	alive[leader] = false
	t.Logf("shut down NATS node %s (the job stream's leader) at step %d", leader, mustJob(t, e, j.ID).TrainedSteps)
	done := succeeded(t, e, j.ID)
	var steps, want []int
	for _, ev := range e.events(j.ID) {
		if ev.Type == sdk.EventMetrics {
			steps = append(steps, ev.Data.Step)
		}
	}
	for i := range 30 {
		want = append(want, i+1)
	}
	if done.TrainedSteps != 30 || fmt.Sprint(steps) != fmt.Sprint(want) {
		t.Errorf("trained_steps %d, step events %v; want 30 and 1..30 once each", done.TrainedSteps, steps)
	}
}

func mustJob(t *testing.T, e *env, id string) *store.Job {
	j, err := e.st.GetJob(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	return j
}
