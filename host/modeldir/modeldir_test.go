package modeldir_test

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/whetml/whet/host/modeldir"
)

type entry struct {
	name, body, link string
	typ              byte
}

func archive(t *testing.T, gz bool, entries ...entry) []byte {
	t.Helper()
	var buf bytes.Buffer
	var tw *tar.Writer
	var zw *gzip.Writer
	if gz {
		zw = gzip.NewWriter(&buf)
		tw = tar.NewWriter(zw)
	} else {
		tw = tar.NewWriter(&buf)
	}
	for _, e := range entries {
		typ := e.typ
		if typ == 0 {
			typ = tar.TypeReg
		}
		h := &tar.Header{Name: e.name, Typeflag: typ, Mode: 0o644, Size: int64(len(e.body)), Linkname: e.link}
		if typ != tar.TypeReg {
			h.Size = 0
		}
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		if typ == tar.TypeReg {
			tw.Write([]byte(e.body))
		}
	}
	tw.Close()
	if zw != nil {
		zw.Close()
	}
	return buf.Bytes()
}

const cfg = `{"architectures":["BertForSequenceClassification"],"id2label":{"1":"pos","0":"neg"},"max_position_embeddings":64}`

func TestExtract(t *testing.T) {
	cases := []struct {
		name    string
		gz      bool
		entries []entry
		wantErr string
		limit   int64
	}{
		{name: "flat tar", entries: []entry{{name: "config.json", body: cfg}, {name: "model.safetensors", body: "w"}}},
		{name: "tgz with top folder", gz: true, entries: []entry{{name: "m/", typ: tar.TypeDir},
			{name: "m/config.json", body: cfg}, {name: "m/model.safetensors", body: "w"}}},
		{name: "peft adapter in a top folder", gz: true, entries: []entry{{name: "a/adapter_config.json",
			body: `{"peft_type":"LORA","task_type":"SEQ_CLS","base_model_name_or_path":"tiny"}`}, {name: "a/adapter_model.safetensors", body: "w"}}},
		{name: "dot-dot", entries: []entry{{name: "../evil", body: "x"}}, wantErr: `".." is not allowed`},
		{name: "nested dot-dot", entries: []entry{{name: "m/../../evil", body: "x"}}, wantErr: `".." is not allowed`},
		{name: "absolute", entries: []entry{{name: "/etc/evil", body: "x"}}, wantErr: "absolute paths"},
		{name: "symlink", entries: []entry{{name: "config.json", typ: tar.TypeSymlink, link: "/etc/passwd"}}, wantErr: "links are not allowed"},
		{name: "hardlink", entries: []entry{{name: "x", typ: tar.TypeLink, link: "../../etc/passwd"}}, wantErr: "links are not allowed"},
		{name: "fifo", entries: []entry{{name: "p", typ: tar.TypeFifo}}, wantErr: "not allowed"},
		{name: "no config", entries: []entry{{name: "model.safetensors", body: "w"}}, wantErr: "no config.json"},
		{name: "over limit", limit: 10, entries: []entry{{name: "config.json", body: cfg}}, wantErr: "larger than the limit of 10 bytes"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dst := t.TempDir()
			limit := tc.limit
			if limit == 0 {
				limit = 1 << 20
			}
			root, err := modeldir.Extract(bytes.NewReader(archive(t, tc.gz, tc.entries...)), dst, limit)
			if tc.wantErr != "" {
				var me *modeldir.Error
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) || !errors.As(err, &me) {
					t.Fatalf("err = %v, want *Error containing %q", err, tc.wantErr)
				}
				if _, err := os.Stat(filepath.Join(filepath.Dir(dst), "evil")); err == nil {
					t.Fatal("an entry escaped the extraction folder")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			info, err := modeldir.Inspect(root)
			if err != nil {
				t.Fatal(err)
			}
			if info.Architecture == modeldir.AdapterArchitecture {
				if info.BaseModelPath != "tiny" || info.Weights != "adapter_model.safetensors" {
					t.Fatalf("adapter info = %+v", info)
				}
				return
			}
			if strings.Join(info.Labels, ",") != "neg,pos" || info.Architecture != "BertForSequenceClassification" ||
				info.MaxPositionEmbeddings != 64 || info.Weights != "model.safetensors" {
				t.Fatalf("info = %+v", info)
			}
		})
	}
}

func TestInspectNeedsWeights(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "config.json"), []byte(cfg), 0o644)
	if _, err := modeldir.Inspect(dir); err == nil || !strings.Contains(err.Error(), "no weights") {
		t.Fatalf("err = %v", err)
	}
	if _, err := modeldir.Inspect(filepath.Join(dir, "nope")); err == nil {
		t.Fatal("missing folder accepted")
	}
}
