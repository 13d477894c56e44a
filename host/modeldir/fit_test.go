package modeldir_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/whetml/whet/host/internal/whettest"
	"github.com/whetml/whet/host/modeldir"
)

// writeSafetensors writes a safetensors file of F32 zeros with the given tensor shapes.
func writeSafetensors(t *testing.T, path string, shapes map[string][]int64) {
	t.Helper()
	if err := os.WriteFile(path, whettest.Safetensors(shapes), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestCheckAdapterFits(t *testing.T) {
	const q = "encoder.layer.0.attention.self.query"
	ad := func(a, b, cls []int64) map[string][]int64 {
		return map[string][]int64{"base_model.model.bert." + q + ".lora_A.weight": a, "base_model.model.bert." + q + ".lora_B.weight": b,
			"base_model.model.classifier.weight": cls, "base_model.model.classifier.bias": {cls[0]}}
	}
	classifierBase := map[string][]int64{"bert." + q + ".weight": {32, 32}, "classifier.weight": {2, 32}}
	const we = "embeddings.word_embeddings"
	emb := func(a, b []int64) map[string][]int64 {
		return map[string][]int64{"base_model.model.bert." + we + ".lora_embedding_A": a, "base_model.model.bert." + we + ".lora_embedding_B": b,
			"base_model.model.classifier.weight": {2, 32}, "base_model.model.classifier.bias": {2}}
	}
	embBase := map[string][]int64{"bert." + we + ".weight": {100, 32}}
	cases := []struct {
		name    string
		base    map[string][]int64 // nil: the base has pytorch_model.bin
		adapter map[string][]int64
		garbage bool
		want    string
	}{
		{name: "fits a classifier base", base: classifierBase, adapter: ad([]int64{4, 32}, []int64{32, 4}, []int64{3, 32})},
		{name: "fits a BertModel base", base: map[string][]int64{q + ".weight": {32, 32}}, adapter: ad([]int64{4, 32}, []int64{32, 4}, []int64{2, 32})},
		{name: "lora_A of another width", base: classifierBase, adapter: ad([]int64{4, 768}, []int64{32, 4}, []int64{2, 32}),
			want: "does not fit the base model's bert." + q + ".weight [32 32]"},
		{name: "lora_B of another width", base: classifierBase, adapter: ad([]int64{4, 32}, []int64{768, 4}, []int64{2, 32}), want: "does not fit"},
		{name: "target the base lacks", base: map[string][]int64{"classifier.weight": {2, 32}}, adapter: ad([]int64{4, 32}, []int64{32, 4}, []int64{2, 32}),
			want: "the base model has no bert." + q + ".weight"},
		{name: "classifier of another width", base: classifierBase, adapter: ad([]int64{4, 32}, []int64{32, 4}, []int64{2, 768}),
			want: "takes 768 inputs but the base model's hidden_size is 32"},
		{name: "pytorch_model.bin base: targets unchecked", adapter: ad([]int64{4, 768}, []int64{768, 4}, []int64{2, 32})},
		{name: "pytorch_model.bin base: classifier checked", adapter: ad([]int64{4, 32}, []int64{32, 4}, []int64{2, 768}), want: "hidden_size is 32"},
		{name: "adapter weights not safetensors", base: classifierBase, garbage: true, want: "not a safetensors file"},
		{name: "embedding LoRA fits", base: embBase, adapter: emb([]int64{4, 100}, []int64{32, 4})},
		{name: "lora_embedding_A of another vocabulary", base: embBase, adapter: emb([]int64{4, 30522}, []int64{32, 4}),
			want: "does not fit the base model's bert." + we + ".weight [100 32]"},
		{name: "lora_embedding_B of another width", base: embBase, adapter: emb([]int64{4, 100}, []int64{768, 4}), want: "does not fit"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			base, dir := t.TempDir(), t.TempDir()
			if err := os.WriteFile(filepath.Join(base, "config.json"), []byte(`{"hidden_size":32}`), 0o644); err != nil {
				t.Fatal(err)
			}
			if tc.base != nil {
				writeSafetensors(t, filepath.Join(base, "model.safetensors"), tc.base)
			} else if err := os.WriteFile(filepath.Join(base, "pytorch_model.bin"), []byte("pickle"), 0o644); err != nil {
				t.Fatal(err)
			}
			if tc.garbage {
				os.WriteFile(filepath.Join(dir, "adapter_model.safetensors"), []byte("w"), 0o644)
			} else {
				writeSafetensors(t, filepath.Join(dir, "adapter_model.safetensors"), tc.adapter)
			}
			err := modeldir.CheckAdapterFits(dir, base)
			if tc.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			var me *modeldir.Error
			if err == nil || !strings.Contains(err.Error(), tc.want) || !errors.As(err, &me) {
				t.Fatalf("err = %v, want a *modeldir.Error containing %q", err, tc.want)
			}
		})
	}
}
