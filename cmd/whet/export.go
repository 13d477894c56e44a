package main

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"sort"

	"github.com/whetml/whet/export/onnx"
)

// runExport implements `whet export`: a model folder to an ONNX folder in transformers.js's layout (pure Go).
func runExport(args []string) error {
	fs := flag.NewFlagSet("export", flag.ContinueOnError)
	model := fs.String("model", "", "model folder (a fine-tuned classifier)")
	format := fs.String("format", "onnx", "export format (onnx)")
	quantize := fs.String("quantize", "", "also write an 8-bit model: int8")
	out := fs.String("out", "", "export folder to write (created; files in it are replaced)")
	pos, err := cliParse(fs, args)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return fmt.Errorf("unexpected argument %q (flags only; see -h)", pos[0])
	}
	if *model == "" || *out == "" {
		return errors.New("--model and --out are required; usage: whet export --model DIR --format onnx [--quantize int8] --out DIR")
	}
	if *format != "onnx" {
		return fmt.Errorf("--format %q: only onnx is supported", *format)
	}
	ctx, stop := cliContext()
	defer stop()
	res, err := onnx.Export(ctx, *model, *out, onnx.Options{Quantize: *quantize})
	if err != nil {
		return err
	}
	names := make([]string, 0, len(res.Files))
	for n := range res.Files {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(os.Stderr, "wrote %s/%s (%d bytes)\n", *out, n, res.Files[n])
	}
	return nil
}
