package torch

import (
	"strings"
	"testing"
)

func TestResolvePrecision(t *testing.T) {
	tests := []struct {
		in             string
		cuda, cudaBF16 bool
		want           Precision
		err            string
	}{
		{"auto", false, false, FP32, ""},
		{"", false, false, FP32, ""},
		{"auto", true, true, BF16, ""},
		{"auto", true, false, FP16, ""}, // a GPU before Ampere
		{"BF16", false, false, BF16, ""},
		{"fp16", true, true, FP16, ""},
		{"fp16", false, false, "", "float16 autocast needs a CUDA device"},
		{"fp8", true, true, "", `precision "fp8": want auto, fp32, bf16 or fp16`},
	}
	for _, tt := range tests {
		got, err := ResolvePrecision(tt.in, tt.cuda, tt.cudaBF16)
		if got != tt.want || (err == nil) != (tt.err == "") || (err != nil && !strings.Contains(err.Error(), tt.err)) {
			t.Errorf("ResolvePrecision(%q, cuda %v, bf16 %v) = %q, %v; want %q, %q", tt.in, tt.cuda, tt.cudaBF16, got, err, tt.want, tt.err)
		}
	}
}
