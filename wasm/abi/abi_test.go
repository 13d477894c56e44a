package abi

import (
	"errors"
	"reflect"
	"strings"
	"testing"
)

func TestPackResult(t *testing.T) {
	for _, tc := range []struct{ ptr, n uint32 }{{0, 0}, {1, 2}, {0xffffffff, 0xffffffff}, {65536, 17}} {
		p, n := UnpackResult(PackResult(tc.ptr, tc.n))
		if p != tc.ptr || n != tc.n {
			t.Errorf("PackResult(%d,%d) round trip = %d,%d", tc.ptr, tc.n, p, n)
		}
	}
}

func TestDecodeResponse(t *testing.T) {
	body, err := DecodeResponse(AppendOK(nil, []byte("hi")))
	if err != nil || string(body) != "hi" {
		t.Fatalf("ok response = %q, %v", body, err)
	}
	_, err = DecodeResponse(AppendError(nil, "bad vocab"))
	var me *ModuleError
	if !errors.As(err, &me) || me.Message != "bad vocab" {
		t.Fatalf("error response = %v", err)
	}
	if _, err := DecodeResponse(nil); !errors.Is(err, ErrEmptyResponse) {
		t.Fatalf("empty response = %v", err)
	}
	if _, err := DecodeResponse([]byte{7}); err == nil || !strings.Contains(err.Error(), "status byte 7") {
		t.Fatalf("unknown status = %v", err)
	}
}

func TestInitRequestRoundTrip(t *testing.T) {
	in := InitRequest{Options: Options{DoLowerCase: true, MaxLength: 128}, Vocab: []byte("[PAD]\n[UNK]\n"), TokenizerJSON: []byte("{}")}
	out, err := DecodeInitRequest(in.Append(nil))
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(in, out) {
		t.Fatalf("round trip: got %+v want %+v", out, in)
	}
	if _, err := DecodeInitRequest(in.Append(nil)[:10]); err == nil || !strings.Contains(err.Error(), "truncated") {
		t.Fatalf("truncated init request: %v", err)
	}
}

func TestPreprocessRequestRoundTrip(t *testing.T) {
	for _, tc := range []struct {
		name string
		req  PreprocessRequest
	}{
		{"single", PreprocessRequest{Texts: []string{"hello", "", "Café 你好"}, MaxLength: 16}},
		{"pairs+tokens", PreprocessRequest{Texts: []string{"a", "b"}, TextPairs: []string{"c", ""}, WithTokens: true}},
		{"empty batch", PreprocessRequest{Texts: []string{}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := tc.req.Append(nil)
			if len(b) != tc.req.Size() {
				t.Errorf("Size() = %d, encoded %d bytes", tc.req.Size(), len(b))
			}
			got, err := DecodePreprocessRequest(b)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tc.req) {
				t.Fatalf("got %+v want %+v", got, tc.req)
			}
		})
	}
}

func TestDecodePreprocessRequestHostile(t *testing.T) {
	for _, tc := range []struct {
		name, want string
		b          []byte
	}{
		{"empty", "truncated", nil},
		{"huge count", "row count 4294967295 needs", []byte{0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff}},
		{"text past end", "truncated", []byte{0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 9, 0, 0, 0, 'a'}},
		{"trailing", "trailing", append(PreprocessRequest{Texts: []string{"x"}}.Append(nil), 0)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := DecodePreprocessRequest(tc.b)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want it to contain %q", err, tc.want)
			}
		})
	}
}

func TestPreprocessResponseRoundTrip(t *testing.T) {
	resp := PreprocessResponse{HasTokens: true, Rows: []Row{
		{IDs: []int32{101, 7592, 102}, TypeIDs: []int32{0, 0, 0}, AttentionMask: []int32{1, 1, 1}, Tokens: []string{"[CLS]", "hello", "[SEP]"}},
		{Err: "text is not valid UTF-8"},
		{IDs: []int32{101, 102, 0}, TypeIDs: []int32{0, 1, 0}, AttentionMask: []int32{1, 1, 0}, Tokens: []string{"[CLS]", "[SEP]", "[PAD]"}},
	}}
	got, err := DecodePreprocessResponse(resp.Append(nil))
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, resp) {
		t.Fatalf("got %+v\nwant %+v", got, resp)
	}
	noTok := PreprocessResponse{Rows: []Row{{IDs: []int32{-1, 1 << 30}, TypeIDs: []int32{0, 1}, AttentionMask: []int32{1, 1}}}}
	got, err = DecodePreprocessResponse(noTok.Append(nil))
	if err != nil || !reflect.DeepEqual(got, noTok) {
		t.Fatalf("no tokens: got %+v, %v", got, err)
	}
}

func TestDecodePreprocessResponseHostile(t *testing.T) {
	good := PreprocessResponse{Rows: []Row{{IDs: []int32{1, 2}, TypeIDs: []int32{0, 0}, AttentionMask: []int32{1, 1}}}}.Append(nil)
	for i := 0; i < len(good); i++ {
		if _, err := DecodePreprocessResponse(good[:i]); err == nil {
			t.Fatalf("truncated to %d bytes: no error", i)
		}
	}
	bad := append([]byte(nil), good...)
	bad[8] = 9 // row status
	if _, err := DecodePreprocessResponse(bad); err == nil || !strings.Contains(err.Error(), "row status byte 9") {
		t.Fatalf("bad row status: %v", err)
	}
	huge := append([]byte(nil), good[:9]...)
	huge = append(huge, 0xff, 0xff, 0xff, 0x7f)
	if _, err := DecodePreprocessResponse(huge); err == nil || !strings.Contains(err.Error(), "token count") {
		t.Fatalf("huge token count: %v", err)
	}
}

func TestInfo(t *testing.T) {
	info, err := ParseInfo(MarshalInfo(Info{Kind: KindEvaluate, Name: "m"}))
	if err != nil || info.Kind != KindEvaluate || info.Name != "m" {
		t.Fatalf("ParseInfo = %+v, %v", info, err)
	}
	for _, body := range []string{`{"kind":"train","name":"x"}`, `{"kind":"evaluate"}`, `not json`} {
		if _, err := ParseInfo([]byte(body)); err == nil {
			t.Errorf("ParseInfo(%s): no error", body)
		}
	}
}

func TestEvaluateRequest(t *testing.T) {
	b, err := EvaluateRequest{Labels: []int{0, 1}, Predictions: []int{1, 1}, LabelNames: []string{"neg", "pos"}}.Append(nil)
	if err != nil {
		t.Fatal(err)
	}
	r, err := DecodeEvaluateRequest(b)
	if err != nil || len(r.Labels) != 2 || r.LabelNames[1] != "pos" {
		t.Fatalf("DecodeEvaluateRequest = %+v, %v", r, err)
	}
	if _, err := DecodeEvaluateRequest([]byte(`{"labels":[1],"predictions":[]}`)); err == nil {
		t.Fatal("length mismatch: no error")
	}
}
