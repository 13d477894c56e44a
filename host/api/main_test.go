package api_test

import (
	"context"
	"errors"
	"net"
	"path/filepath"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/whetml/whet/host/api"
	"github.com/whetml/whet/host/internal/whettest"
	"github.com/whetml/whet/host/server"
	"github.com/whetml/whet/sdk"
)

var fakeBin string

func TestMain(m *testing.M) { whettest.RunWithFake(m, &fakeBin) }

// testServer is a whet server running in this process on a free loopback port, with fakewhet as its trainer
// and prediction worker.
type testServer struct {
	t    *testing.T
	url  string
	data string
	c    *sdk.Client
	stop func()
}

type opts struct {
	keys []string
	env  []string
	api  func(*api.Config)
	srv  func(*server.Config)
	data string
}

func start(t *testing.T, o opts) *testServer {
	t.Helper()
	if o.data == "" {
		o.data = t.TempDir()
	}
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan net.Addr, 1)
	done := make(chan error, 1)
	cfg := server.Config{Addr: "127.0.0.1:0", DataDir: o.data, APIKeys: o.keys, Bin: fakeBin,
		Env: o.env, API: o.api, Ready: func(a net.Addr) { ready <- a },
		Static: fstest.MapFS{"index.html": {Data: []byte("<h1>whet</h1>")}}}
	if o.srv != nil {
		o.srv(&cfg)
	}
	go func() { done <- server.Run(ctx, cfg) }()
	var addr net.Addr
	select {
	case addr = <-ready:
	case err := <-done:
		cancel()
		t.Fatalf("server did not start: %v", err)
	}
	ts := &testServer{t: t, url: "http://" + addr.String(), data: o.data}
	stopped := false
	ts.stop = func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		if err := <-done; err != nil {
			t.Errorf("server shutdown: %v", err)
		}
	}
	t.Cleanup(ts.stop)
	key := ""
	if len(o.keys) > 0 {
		key = o.keys[0]
	}
	ts.c = sdk.NewClient(ts.url, sdk.WithAPIKey(key))
	return ts
}

// apiErr asserts err is a *sdk.StatusError with the given status and a message containing want.
func apiErr(t *testing.T, err error, status int, want string) *sdk.StatusError {
	t.Helper()
	var se *sdk.StatusError
	if !errors.As(err, &se) {
		t.Fatalf("err = %v, want *sdk.StatusError %d", err, status)
	}
	if se.StatusCode != status || !strings.Contains(se.Err.Message, want) {
		t.Fatalf("got %d %q (type %s), want %d containing %q", se.StatusCode, se.Err.Message, se.Err.Type, status, want)
	}
	return se
}

func param(se *sdk.StatusError) string {
	if se.Err.Param == nil {
		return ""
	}
	return *se.Err.Param
}

// model writes a model folder and registers it with from_path.
func (ts *testServer) model(id string, labels ...string) *sdk.Model {
	ts.t.Helper()
	dir := filepath.Join(ts.t.TempDir(), id)
	if err := whettest.WriteModel(dir, labels...); err != nil {
		ts.t.Fatal(err)
	}
	m, err := ts.c.CreateModel(context.Background(), sdk.CreateModelRequest{FromPath: dir})
	if err != nil {
		ts.t.Fatal(err)
	}
	return m
}

func (ts *testServer) upload(name, content string) *sdk.File {
	ts.t.Helper()
	f, err := ts.c.UploadFile(context.Background(), sdk.UploadFileRequest{Filename: name, Content: strings.NewReader(content), Purpose: sdk.PurposeFineTune})
	if err != nil {
		ts.t.Fatal(err)
	}
	return f
}

// follow streams job id's events until the job is finished and returns them.
func (ts *testServer) follow(id string) []sdk.JobEvent {
	ts.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var evs []sdk.JobEvent
	err := ts.c.StreamJobEvents(ctx, id, 0, func(ev sdk.JobEvent) error {
		evs = append(evs, ev)
		return nil
	})
	if err != nil {
		ts.t.Fatalf("stream events of job[%s]: %v", id, err)
	}
	return evs
}
