package whettest

import (
	"context"
	"testing"
	"time"
)

// WaitJob blocks until job id, read with st.GetJob, satisfies ok, waking on q.Subscribe's notifications; after
// timeout it fails t with the job's last state (explain adds to it). J is the store's job type.
func WaitJob[J any](t testing.TB, timeout time.Duration, q interface {
	Subscribe(id string) (<-chan struct{}, func())
}, st interface {
	GetJob(ctx context.Context, id string) (J, error)
}, id string, ok func(J) bool, explain func(J) string) J {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	ch, unsub := q.Subscribe(id)
	defer unsub()
	for {
		j, err := st.GetJob(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		if ok(j) {
			return j
		}
		select {
		case <-ch:
		case <-ctx.Done():
			t.Fatalf("job[%s] never reached the expected state within %v: %s", id, timeout, explain(j))
		}
	}
}
