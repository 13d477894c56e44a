package modules

import (
	"bytes"
	"strings"
	"testing"
)

func TestGet(t *testing.T) {
	_, err := Get("no-such-module")
	if err == nil || !strings.Contains(err.Error(), "built-in module no-such-module not built: run `make wasm`") {
		t.Fatalf("Get(unknown) = %v", err)
	}
	for _, name := range Names() {
		b, err := Get(name)
		if err != nil {
			if !strings.Contains(err.Error(), "run `make wasm`") {
				t.Errorf("%s: %v", name, err)
			}
			t.Logf("%s: not built (make wasm), skipping its content check", name)
			continue
		}
		if !bytes.HasPrefix(b, []byte("\x00asm")) {
			t.Errorf("%s: embedded bytes are not a wasm binary", name)
		}
	}
}
