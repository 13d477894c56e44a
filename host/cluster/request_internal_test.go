package cluster

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
)

// TestRequestSentAgain: a worker's request whose message is lost (as when a NATS node fails over with it in
// flight) or that a busy server turns away is sent again after tryTimeout, not left waiting for its whole budget.
func TestRequestSentAgain(t *testing.T) {
	ns, err := server.NewServer(&server.Options{Host: "127.0.0.1", Port: server.RANDOM_PORT, NoSigs: true, NoLog: true})
	if err != nil {
		t.Fatal(err)
	}
	go ns.Start()
	if !ns.ReadyForConnections(10 * time.Second) {
		t.Fatal("NATS server did not start")
	}
	defer ns.Shutdown()
	nc, err := nats.Connect(ns.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	for _, tc := range []struct {
		name  string
		first func(*nats.Msg) // what happens to the first request
		most  time.Duration
	}{
		{"lost in flight", func(*nats.Msg) {}, tryTimeout + time.Second},
		{"server busy", func(m *nats.Msg) { _ = m.Respond([]byte(`{"busy":true,"error":"server busy: retry"}`)) }, time.Second},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var n atomic.Int32
			sub, err := nc.Subscribe(subjLines, func(m *nats.Msg) {
				if n.Add(1) == 1 {
					tc.first(m)
					return
				}
				_ = m.Respond([]byte(`{}`))
			})
			if err != nil {
				t.Fatal(err)
			}
			defer sub.Unsubscribe()
			w := &worker{nc: nc}
			start := time.Now()
			var rep reply
			if err := w.request(context.Background(), subjLines, linesReq{Lines: []string{"x"}}, &rep, time.Minute); err != nil || rep.Error != "" {
				t.Fatalf("request: %v %+v", err, rep)
			}
			if took := time.Since(start); n.Load() != 2 || took > tc.most {
				t.Errorf("answered after %v and %d sends; want 2 sends within %v", took, n.Load(), tc.most)
			}
		})
	}
}
