package main

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/whetml/whet/host/store"
)

func TestKeysCommands(t *testing.T) {
	data := t.TempDir()
	var out bytes.Buffer
	if err := keys([]string{"create", "--data", data, "--name", "dash", "--scope", "read"}, &out); err != nil {
		t.Fatal(err)
	}
	key := strings.TrimSpace(out.String())
	ctx := context.Background()
	st, err := store.Open(ctx, data, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	k, err := st.LookupKey(ctx, key)
	st.Close(ctx)
	if err != nil || k == nil || k.Scope != store.ScopeRead || k.Name != "dash" {
		t.Fatalf("created key %q looks up as %+v, %v", key, k, err)
	}
	out.Reset()
	if err := keys([]string{"list", "--data", data}, &out); err != nil || !strings.Contains(out.String(), k.ID+"  dash  read") {
		t.Fatalf("list: %v\n%s", err, out.String())
	}
	if err := keys([]string{"revoke", "--data", data, k.ID}, &out); err != nil {
		t.Fatal(err)
	}
	out.Reset()
	keys([]string{"list", "--data", data}, &out)
	if strings.Contains(out.String(), "read  -") || strings.Count(out.String(), "\n") != 2 {
		t.Fatalf("after revoke, list shows the key as valid:\n%s", out.String())
	}
	for _, bad := range [][]string{{}, {"revoke", "--data", data}, {"rotate"}, {"create", "--data", data, "--scope", "root"}} {
		if err := keys(bad, &out); err == nil {
			t.Errorf("keys %v: no error", bad)
		}
	}
}
