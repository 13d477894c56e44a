package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/whetml/whet/dataset"
	"github.com/whetml/whet/internal/runspec"
	"github.com/whetml/whet/sdk"
)

// The server clients below talk to a whet server only through package sdk.

// clientFlags are the flags every server client command takes.
type clientFlags struct {
	server, apiKey *string
	asJSON         *bool
}

func newClientFlags(fs *flag.FlagSet) clientFlags {
	return clientFlags{
		server: fs.String("server", "http://127.0.0.1:8080", "whet server URL"),
		apiKey: fs.String("api-key", "", "API key (Bearer) when the server requires one"),
		asJSON: fs.Bool("json", false, "print JSON instead of a table"),
	}
}

func (f clientFlags) client() *sdk.Client {
	return sdk.NewClient(*f.server, sdk.WithAPIKey(*f.apiKey))
}

// cliParse parses args, allowing flags after positional arguments ("jobs get ID --server URL").
func cliParse(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		if fs.NArg() == 0 {
			return pos, nil
		}
		pos = append(pos, fs.Arg(0))
		args = fs.Args()[1:]
	}
}

func cliContext() (context.Context, context.CancelFunc) {
	return signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
}

func cliJSON(v any) error {
	enc := json.NewEncoder(os.Stdout)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

func cliTable(header string, rows [][]string) error {
	tw := tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, header)
	for _, r := range rows {
		fmt.Fprintln(tw, strings.Join(r, "\t"))
	}
	return tw.Flush()
}

func cliTime(unix int64) string { return time.Unix(unix, 0).UTC().Format(time.RFC3339) }

func cliSub(name string, args []string, usage string, subs map[string]func([]string) error) error {
	if len(args) == 0 {
		return fmt.Errorf("usage: %s", usage)
	}
	run, ok := subs[args[0]]
	if !ok {
		return fmt.Errorf("unknown %s command %q; usage: %s", name, args[0], usage)
	}
	return run(args[1:])
}

// cliList runs a `whet ... list` command: it parses args (the client's flags and fs's others), fetches the list and
// prints it, whole as JSON with --json, else as a table of header and one row per item.
func cliList[L, T any](fs *flag.FlagSet, cf clientFlags, args []string, fetch func(*sdk.Client, context.Context) (*L, error),
	items func(*L) []T, header string, row func(T) []string) error {
	if _, err := cliParse(fs, args); err != nil {
		return err
	}
	ctx, stop := cliContext()
	defer stop()
	list, err := fetch(cf.client(), ctx)
	if err != nil {
		return err
	}
	if *cf.asJSON {
		return cliJSON(list)
	}
	var rows [][]string
	for _, it := range items(list) {
		rows = append(rows, row(it))
	}
	return cliTable(header, rows)
}

// cliUpload runs a `whet ... upload FILE` command: it parses args for the one path (what names it), hands the file
// with its base name to upload and prints what upload returns as JSON.
func cliUpload(fs *flag.FlagSet, args []string, what string, upload func(ctx context.Context, name string, content io.Reader) (any, error)) error {
	path, err := cliParseOne(fs, args, what)
	if err != nil {
		return err
	}
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	ctx, stop := cliContext()
	defer stop()
	out, err := upload(ctx, filepath.Base(path), f)
	if err != nil {
		return err
	}
	return cliJSON(out)
}

// cliParseOne parses args (flags and positional arguments in any order) and returns the one positional argument,
// what it names.
func cliParseOne(fs *flag.FlagSet, args []string, what string) (string, error) {
	pos, err := cliParse(fs, args)
	if err != nil {
		return "", err
	}
	if len(pos) != 1 {
		return "", fmt.Errorf("expected one %s, got %d arguments", what, len(pos))
	}
	return pos[0], nil
}

// runJobs implements `whet jobs create|list|get|events|cancel`.
func runJobs(args []string) error {
	const usage = "whet jobs create|list|get ID|events ID [--follow]|cancel ID|delete ID [--delete-model] [--server URL] [--api-key KEY]"
	return cliSub("jobs", args, usage, map[string]func([]string) error{
		"create": jobsCreate,
		"list":   jobsList,
		"get":    func(a []string) error { return jobsOne("get", a) },
		"cancel": func(a []string) error { return jobsOne("cancel", a) },
		"delete": func(a []string) error { return jobsOne("delete", a) },
		"events": jobsEvents,
	})
}

func jobsCreate(args []string) error {
	fs := flag.NewFlagSet("jobs create", flag.ContinueOnError)
	cf := newClientFlags(fs)
	var req sdk.CreateJobRequest
	fs.StringVar(&req.Model, "model", "", "registered model id to fine-tune (required)")
	fs.StringVar(&req.TrainingFile, "training-file", "", "uploaded file id (required)")
	fs.StringVar(&req.ValidationFile, "validation-file", "", "uploaded file id (default: a 10% stratified split)")
	fs.StringVar(&req.PreprocessModule, "preprocess-module", "", "uploaded preprocess module id")
	fs.StringVar(&req.EvaluateModule, "evaluate-module", "", "uploaded evaluate module id")
	fs.StringVar(&req.Suffix, "suffix", "", "suffix for the fine-tuned model's id")
	fs.IntVar(&req.MaxAttempts, "max-attempts", 0, "times the job may start running: a trainer killed by a signal resumes from its last checkpoint until they are spent (default: the server's, 3)")
	spec := runspec.Spec{Hyperparameters: runspec.Default()}
	spec.BindHyperparameterFlags(fs)
	follow := fs.Bool("follow", false, "stream the job's events until it finishes")
	if _, err := cliParse(fs, args); err != nil {
		return err
	}
	req.Hyperparameters = spec.API()
	ctx, stop := cliContext()
	defer stop()
	c := cf.client()
	job, err := c.CreateJob(ctx, req)
	if err != nil {
		return err
	}
	if !*follow {
		return cliJSON(job)
	}
	fmt.Fprintf(os.Stderr, "created job %s\n", job.ID)
	return followJob(ctx, c, job.ID, 0)
}

func jobsList(args []string) error {
	fs := flag.NewFlagSet("jobs list", flag.ContinueOnError)
	cf := newClientFlags(fs)
	limit := fs.Int("limit", 20, "jobs to list, newest first")
	list := func(c *sdk.Client, ctx context.Context) (*sdk.JobList, error) {
		return c.ListJobs(ctx, sdk.ListJobsRequest{Limit: *limit})
	}
	return cliList(fs, cf, args, list, func(l *sdk.JobList) []sdk.Job { return l.Data },
		"ID\tSTATUS\tMODEL\tTRAINING FILE\tFINE-TUNED MODEL\tCREATED",
		func(j sdk.Job) []string {
			ft := ""
			if j.FineTunedModel != nil {
				ft = *j.FineTunedModel
			}
			return []string{j.ID, j.Status, j.Model, j.TrainingFile, ft, cliTime(j.CreatedAt)}
		})
}

// jobsOne implements `whet jobs get|cancel|delete ID` (delete also takes --delete-model).
func jobsOne(verb string, args []string) error {
	fs := flag.NewFlagSet("jobs "+verb, flag.ContinueOnError)
	cf := newClientFlags(fs)
	deleteModel := new(bool)
	if verb == "delete" {
		deleteModel = fs.Bool("delete-model", false, "also delete the job's fine-tuned model (default: keep it)")
	}
	id, err := cliParseOne(fs, args, "job id")
	if err != nil {
		return err
	}
	ctx, stop := cliContext()
	defer stop()
	var out any
	switch verb {
	case "cancel":
		out, err = cf.client().CancelJob(ctx, id)
	case "delete":
		out, err = cf.client().DeleteJob(ctx, id, sdk.DeleteJobRequest{DeleteModel: *deleteModel})
	default:
		out, err = cf.client().GetJob(ctx, id)
	}
	if err != nil {
		return err
	}
	return cliJSON(out)
}

func jobsEvents(args []string) error {
	fs := flag.NewFlagSet("jobs events", flag.ContinueOnError)
	cf := newClientFlags(fs)
	follow := fs.Bool("follow", false, "keep streaming until the job finishes")
	after := fs.Int64("after", 0, "only events after this event id")
	id, err := cliParseOne(fs, args, "job id")
	if err != nil {
		return err
	}
	ctx, stop := cliContext()
	defer stop()
	c := cf.client()
	if *follow {
		return followJob(ctx, c, id, *after)
	}
	for {
		page, err := c.ListJobEvents(ctx, id, sdk.ListEventsRequest{After: *after, Limit: 1000})
		if err != nil {
			return err
		}
		for _, ev := range page.Data {
			if *cf.asJSON {
				if err := json.NewEncoder(os.Stdout).Encode(ev); err != nil {
					return err
				}
			} else {
				printEvent(ev)
			}
			*after = ev.ID
		}
		if !page.HasMore {
			return nil
		}
	}
}

func printEvent(ev sdk.JobEvent) {
	fmt.Printf("%s  %-5s  %s\n", cliTime(ev.CreatedAt), ev.Level, ev.Message)
}

// followJob prints a job's events until it finishes; a job that did not succeed is an error.
func followJob(ctx context.Context, c *sdk.Client, id string, after int64) error {
	err := c.StreamJobEvents(ctx, id, after, func(ev sdk.JobEvent) error {
		printEvent(ev)
		return nil
	})
	if err != nil {
		return err
	}
	job, err := c.GetJob(ctx, id)
	if err != nil {
		return err
	}
	switch job.Status {
	case sdk.JobSucceeded:
		fmt.Fprintf(os.Stderr, "job %s succeeded: fine-tuned model %s\n", id, *job.FineTunedModel)
		return nil
	case sdk.JobFailed:
		msg := "no reason given"
		if job.Error != nil {
			msg = job.Error.Message
		}
		return fmt.Errorf("job[%s] failed: %s", id, msg)
	default:
		return fmt.Errorf("job[%s] is %s", id, job.Status)
	}
}

// runFiles implements `whet files upload FILE|list`.
func runFiles(args []string) error {
	const usage = "whet files upload FILE [--text-column C] [--label-column C] | whet files list [--server URL] [--api-key KEY]"
	return cliSub("files", args, usage, map[string]func([]string) error{
		"upload": func(args []string) error {
			fs := flag.NewFlagSet("files upload", flag.ContinueOnError)
			cf := newClientFlags(fs)
			textCol := fs.String("text-column", "", "text column (default: found by name)")
			labelCol := fs.String("label-column", "", "label column (default: found by name)")
			return cliUpload(fs, args, "file", func(ctx context.Context, name string, content io.Reader) (any, error) {
				out, err := cf.client().UploadFile(ctx, sdk.UploadFileRequest{Filename: name, Content: content,
					TextColumn: *textCol, LabelColumn: *labelCol})
				if err != nil {
					return nil, err
				}
				for _, w := range out.Warnings {
					fmt.Fprintln(os.Stderr, "warning:", w)
				}
				return out, nil
			})
		},
		"list": func(args []string) error {
			fs := flag.NewFlagSet("files list", flag.ContinueOnError)
			cf := newClientFlags(fs)
			return cliList(fs, cf, args, (*sdk.Client).ListFiles, func(l *sdk.FileList) []sdk.File { return l.Data },
				"ID\tFILENAME\tROWS\tLABELS\tBYTES\tCREATED",
				func(f sdk.File) []string {
					return []string{f.ID, f.Filename, fmt.Sprint(f.Rows), strings.Join(f.Labels, ","), fmt.Sprint(f.Bytes), cliTime(f.CreatedAt)}
				})
		},
	})
}

// runModules implements `whet modules upload FILE.wasm --kind K|list`.
func runModules(args []string) error {
	const usage = "whet modules upload FILE.wasm --kind preprocess|evaluate [--name N] | whet modules list [--server URL] [--api-key KEY]"
	return cliSub("modules", args, usage, map[string]func([]string) error{
		"upload": func(args []string) error {
			fs := flag.NewFlagSet("modules upload", flag.ContinueOnError)
			cf := newClientFlags(fs)
			kind := fs.String("kind", "", "preprocess or evaluate (required)")
			name := fs.String("name", "", "module name (default: the one it declares)")
			return cliUpload(fs, args, ".wasm file", func(ctx context.Context, filename string, content io.Reader) (any, error) {
				return cf.client().UploadModule(ctx, sdk.UploadModuleRequest{Filename: filename, Content: content, Kind: *kind, Name: *name})
			})
		},
		"list": func(args []string) error {
			fs := flag.NewFlagSet("modules list", flag.ContinueOnError)
			cf := newClientFlags(fs)
			return cliList(fs, cf, args, (*sdk.Client).ListModules, func(l *sdk.ModuleList) []sdk.Module { return l.Data },
				"ID\tNAME\tKIND\tSHA256\tABI\tCREATED",
				func(m sdk.Module) []string {
					return []string{m.ID, m.Name, m.Kind, m.SHA256[:12], fmt.Sprint(m.ABIVersion), cliTime(m.CreatedAt)}
				})
		},
	})
}

// runModels implements `whet models import --path DIR|--archive FILE|list|evaluate|merge`.
func runModels(args []string) error {
	const usage = "whet models import (--path DIR | --archive FILE.tar.gz) [--id ID] [--base-model ID] | whet models list | " +
		"whet models evaluate ID --file FILE_ID | whet models merge ADAPTER_ID [--id ID] [--server URL] [--api-key KEY]"
	return cliSub("models", args, usage, map[string]func([]string) error{
		"import":   modelsImport,
		"evaluate": modelsEvaluate,
		"merge":    modelsMerge,
		"list":     modelsList,
	})
}

// modelsImport implements `whet models import`: registers a model folder on the server's disk or uploads an archive.
func modelsImport(args []string) error {
	fs := flag.NewFlagSet("models import", flag.ContinueOnError)
	cf := newClientFlags(fs)
	path := fs.String("path", "", "model folder on the server's disk, copied into its data folder (admin key)")
	archive := fs.String("archive", "", "local .tar or .tar.gz of a model folder, uploaded")
	id := fs.String("id", "", "model id (default: the folder or archive name)")
	base := fs.String("base-model", "", "for a LoRA adapter folder: the registered model it is served on (default: its base_model_name_or_path)")
	if _, err := cliParse(fs, args); err != nil {
		return err
	}
	if (*path == "") == (*archive == "") {
		return errors.New("give exactly one of --path DIR or --archive FILE")
	}
	ctx, stop := cliContext()
	defer stop()
	var m *sdk.Model
	var err error
	if *path != "" {
		abs, aerr := filepath.Abs(*path)
		if aerr != nil {
			return aerr
		}
		m, err = cf.client().CreateModel(ctx, sdk.CreateModelRequest{FromPath: abs, ID: *id, BaseModel: *base})
	} else {
		f, ferr := os.Open(*archive)
		if ferr != nil {
			return ferr
		}
		defer f.Close()
		m, err = cf.client().UploadModel(ctx, sdk.UploadModelRequest{Filename: filepath.Base(*archive), Content: f, ID: *id, BaseModel: *base})
	}
	if err != nil {
		return err
	}
	return cliJSON(m)
}

// modelsEvaluate implements `whet models evaluate ID --file FILE_ID`: prints the model's evaluation report.
func modelsEvaluate(args []string) error {
	fs := flag.NewFlagSet("models evaluate", flag.ContinueOnError)
	cf := newClientFlags(fs)
	file := fs.String("file", "", "id of an uploaded, labeled file (required)")
	id, err := cliParseOne(fs, args, "model id")
	if err != nil {
		return err
	}
	if *file == "" {
		return errors.New("--file is required")
	}
	ctx, stop := cliContext()
	defer stop()
	out, err := cf.client().Evaluate(ctx, id, sdk.EvaluateRequest{File: *file})
	if err != nil {
		return err
	}
	if !*cf.asJSON {
		return writeReport(os.Stdout, out)
	}
	var doc any
	if err := json.Unmarshal(out, &doc); err != nil {
		return err
	}
	return cliJSON(doc)
}

// modelsMerge implements `whet models merge ADAPTER_ID`: registers the adapter merged into its base.
func modelsMerge(args []string) error {
	fs := flag.NewFlagSet("models merge", flag.ContinueOnError)
	cf := newClientFlags(fs)
	newID := fs.String("id", "", "id of the merged model (default: ADAPTER_ID-merged)")
	id, err := cliParseOne(fs, args, "adapter model id")
	if err != nil {
		return err
	}
	ctx, stop := cliContext()
	defer stop()
	m, err := cf.client().MergeModel(ctx, id, sdk.MergeModelRequest{ID: *newID})
	if err != nil {
		return err
	}
	return cliJSON(m)
}

// modelsList implements `whet models list`.
func modelsList(args []string) error {
	fs := flag.NewFlagSet("models list", flag.ContinueOnError)
	cf := newClientFlags(fs)
	return cliList(fs, cf, args, (*sdk.Client).ListModels, func(l *sdk.ModelList) []sdk.Model { return l.Data },
		"ID\tSOURCE\tLABELS\tBASE\tCREATED",
		func(m sdk.Model) []string {
			return []string{m.ID, m.Source, strings.Join(m.Labels, ","), m.BaseModel, cliTime(m.CreatedAt)}
		})
}

// predictViaServer implements `whet predict --server URL --model ID --input FILE --output FILE.jsonl`: the same
// input formats as local prediction (JSONL, CSV or TSV with a text column, or .txt with one text per line), sent
// to the server in batches; one {"label","score","scores"} line per input row, written atomically.
func predictViaServer(args []string) error {
	fs := flag.NewFlagSet("predict", flag.ContinueOnError)
	server := fs.String("server", "", "whet server URL (required)")
	apiKey := fs.String("api-key", "", "API key (Bearer) when the server requires one")
	model := fs.String("model", "", "model id on the server (required)")
	input := fs.String("input", "", "input file (required)")
	output := fs.String("output", "", "output JSONL (required)")
	textCol := fs.String("text-column", "", "text column (default: found by name)")
	batch := fs.Int("batch-size", 64, "inputs per request")
	fs.Int("threads", 0, "ignored: the server decides")
	if _, err := cliParse(fs, args); err != nil {
		return err
	}
	for name, v := range map[string]string{"server": *server, "model": *model, "input": *input, "output": *output} {
		if v == "" {
			return fmt.Errorf("--%s is required", name)
		}
	}
	if *batch < 1 {
		return fmt.Errorf("--batch-size must be >= 1, got %d", *batch)
	}
	texts, err := predictTexts(*input, *textCol)
	if err != nil {
		return err
	}
	ctx, stop := cliContext()
	defer stop()
	c := sdk.NewClient(*server, sdk.WithAPIKey(*apiKey))
	if dir := filepath.Dir(*output); dir != "" {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return err
		}
	}
	tmp, err := os.CreateTemp(filepath.Dir(*output), ".predict-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	w := bufio.NewWriter(tmp)
	enc := json.NewEncoder(w)
	for start := 0; start < len(texts); start += *batch {
		end := min(start+*batch, len(texts))
		preds, err := c.Predict(ctx, *model, sdk.PredictRequest{Inputs: texts[start:end]})
		if err != nil {
			tmp.Close()
			return fmt.Errorf("rows %d-%d: %w", start+1, end, err)
		}
		for _, p := range preds {
			if err := enc.Encode(p); err != nil {
				tmp.Close()
				return err
			}
		}
	}
	if err := w.Flush(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp.Name(), *output); err != nil {
		return fmt.Errorf("output[%s]: %w", *output, err)
	}
	fmt.Fprintf(os.Stderr, "wrote %d predictions to %s\n", len(texts), *output)
	return nil
}

// predictTexts reads the texts to classify: one per line of a .txt file, else the text column of a dataset.
func predictTexts(path, textCol string) ([]string, error) {
	if strings.EqualFold(filepath.Ext(path), ".txt") {
		f, err := os.Open(path)
		if err != nil {
			return nil, err
		}
		defer f.Close()
		var out []string
		sc := bufio.NewScanner(f)
		sc.Buffer(make([]byte, 64<<10), 16<<20)
		for sc.Scan() {
			if line := strings.TrimSpace(sc.Text()); line != "" {
				out = append(out, line)
			}
		}
		if err := sc.Err(); err != nil && !errors.Is(err, io.EOF) {
			return nil, fmt.Errorf("input[%s]: %w", path, err)
		}
		if len(out) == 0 {
			return nil, fmt.Errorf("input[%s]: no texts", path)
		}
		return out, nil
	}
	ds, err := dataset.ReadFile(path, dataset.Options{TextColumn: textCol})
	if err != nil {
		return nil, err
	}
	return ds.Texts(), nil
}
