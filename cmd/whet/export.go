package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"sort"

	"github.com/whetml/whet/export/onnx"
	"github.com/whetml/whet/host/modeldir"
	"github.com/whetml/whet/sdk"
)

// runExport implements `whet export`: a model folder to an ONNX folder in transformers.js's layout (pure Go).
func runExport(args []string) error {
	fs := flag.NewFlagSet("export", flag.ContinueOnError)
	model := fs.String("model", "", "model folder (a fine-tuned classifier), or a model id with --server")
	server := fs.String("server", "", "export a model of this whet server (GET /v1/models/{id}/export) instead of a local folder")
	apiKey := fs.String("api-key", "", "API key (Bearer) when the server requires one")
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
	if *server != "" {
		return exportFromServer(ctx, sdk.NewClient(*server, sdk.WithAPIKey(*apiKey)), *model, *quantize, *out)
	}
	res, err := onnx.Export(ctx, *model, *out, onnx.Options{Quantize: *quantize})
	var me *onnx.ModelError
	if errors.As(err, &me) {
		return modelNotExportable{me}
	}
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

// exportFromServer downloads a server's export of model id and unpacks it into out (which must not exist or be empty).
func exportFromServer(ctx context.Context, c *sdk.Client, id, quantize, out string) error {
	body, err := c.ExportModel(ctx, id, sdk.ExportModelRequest{Format: "onnx", Quantize: quantize})
	if err != nil {
		return err
	}
	defer body.Close()
	if err := os.MkdirAll(out, 0o755); err != nil {
		return err
	}
	if ents, _ := os.ReadDir(out); len(ents) > 0 {
		return fmt.Errorf("--out %s is not empty", out)
	}
	if _, err := modeldir.Extract(body, out, 1<<40); err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "wrote %s (model %s)\n", out, id)
	return nil
}

// modelNotExportable exits with status 3: the model folder cannot be exported (the server answers 422 for it;
// host/api.RunExport).
type modelNotExportable struct{ error }

// ExitCode implements main's exitCoder.
func (modelNotExportable) ExitCode() int { return 3 }
