package sdk

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"net/url"
	"strconv"
	"strings"
)

// StatusError is returned for every response whose status is not 2xx.
type StatusError struct {
	// StatusCode is the HTTP status.
	StatusCode int
	// Err is the decoded error body; when the body was not the JSON error shape, Err.Message holds its text.
	Err Error
}

// Error implements error.
func (e *StatusError) Error() string {
	return fmt.Sprintf("whet api: status %d: %s", e.StatusCode, e.Err.Error())
}

// Client calls one whet server. It is safe for concurrent use.
type Client struct {
	base   string
	apiKey string
	hc     *http.Client
}

// Option configures a Client in NewClient.
type Option func(*Client)

// WithAPIKey sends key as "Authorization: Bearer <key>" on every request. Default: no key.
func WithAPIKey(key string) Option { return func(c *Client) { c.apiKey = key } }

// WithHTTPClient uses hc for every request. Default: a client with no overall timeout (streams run long;
// bound calls with their context).
func WithHTTPClient(hc *http.Client) Option { return func(c *Client) { c.hc = hc } }

// NewClient returns a client for the server at baseURL ("http://127.0.0.1:8080").
func NewClient(baseURL string, opts ...Option) *Client {
	c := &Client{base: strings.TrimRight(baseURL, "/"), hc: &http.Client{}}
	for _, o := range opts {
		o(c)
	}
	return c
}

// Health calls GET /healthz.
func (c *Client) Health(ctx context.Context) (*HealthResponse, error) {
	var out HealthResponse
	return &out, c.do(ctx, http.MethodGet, "/healthz", nil, &out)
}

// UploadFile calls POST /v1/files. The server validates the file and answers 400 naming the line at fault.
func (c *Client) UploadFile(ctx context.Context, req UploadFileRequest) (*File, error) {
	fields := map[string]string{"purpose": req.Purpose}
	if req.Purpose == "" {
		fields["purpose"] = PurposeFineTune
	}
	if req.TextColumn != "" {
		fields["text_column"] = req.TextColumn
	}
	if req.LabelColumn != "" {
		fields["label_column"] = req.LabelColumn
	}
	var out File
	err := c.multipart(ctx, "/v1/files", "file", req.Filename, req.Content, fields, &out)
	return &out, err
}

// ListFiles calls GET /v1/files.
func (c *Client) ListFiles(ctx context.Context) (*FileList, error) {
	var out FileList
	return &out, c.do(ctx, http.MethodGet, "/v1/files", nil, &out)
}

// GetFile calls GET /v1/files/{id}.
func (c *Client) GetFile(ctx context.Context, id string) (*File, error) {
	var out File
	return &out, c.do(ctx, http.MethodGet, "/v1/files/"+url.PathEscape(id), nil, &out)
}

// DeleteFile calls DELETE /v1/files/{id}; a file used by an unfinished job answers 409.
func (c *Client) DeleteFile(ctx context.Context, id string) (*DeleteResponse, error) {
	var out DeleteResponse
	return &out, c.do(ctx, http.MethodDelete, "/v1/files/"+url.PathEscape(id), nil, &out)
}

// UploadModule calls POST /v1/modules; the sandbox validates the module at upload.
func (c *Client) UploadModule(ctx context.Context, req UploadModuleRequest) (*Module, error) {
	fields := map[string]string{"kind": req.Kind}
	if req.Name != "" {
		fields["name"] = req.Name
	}
	var out Module
	err := c.multipart(ctx, "/v1/modules", "file", req.Filename, req.Content, fields, &out)
	return &out, err
}

// ListModules calls GET /v1/modules.
func (c *Client) ListModules(ctx context.Context) (*ModuleList, error) {
	var out ModuleList
	return &out, c.do(ctx, http.MethodGet, "/v1/modules", nil, &out)
}

// GetModule calls GET /v1/modules/{id}.
func (c *Client) GetModule(ctx context.Context, id string) (*Module, error) {
	var out Module
	return &out, c.do(ctx, http.MethodGet, "/v1/modules/"+url.PathEscape(id), nil, &out)
}

// DeleteModule calls DELETE /v1/modules/{id}; a module used by an unfinished job answers 409.
func (c *Client) DeleteModule(ctx context.Context, id string) (*DeleteResponse, error) {
	var out DeleteResponse
	return &out, c.do(ctx, http.MethodDelete, "/v1/modules/"+url.PathEscape(id), nil, &out)
}

// RunModule calls POST /v1/modules/{id}/run and returns what the module returned, undecoded.
func (c *Client) RunModule(ctx context.Context, id string, req RunModuleRequest) (json.RawMessage, error) {
	var out json.RawMessage
	return out, c.do(ctx, http.MethodPost, "/v1/modules/"+url.PathEscape(id)+"/run", req, &out)
}

// CreateModel calls POST /v1/models with a folder on the server's disk.
func (c *Client) CreateModel(ctx context.Context, req CreateModelRequest) (*Model, error) {
	var out Model
	return &out, c.do(ctx, http.MethodPost, "/v1/models", req, &out)
}

// UploadModel calls POST /v1/models with a .tar or .tar.gz archive of a model folder (multipart field "file").
func (c *Client) UploadModel(ctx context.Context, req UploadModelRequest) (*Model, error) {
	fields := map[string]string{}
	if req.ID != "" {
		fields["id"] = req.ID
	}
	if req.BaseModel != "" {
		fields["base_model"] = req.BaseModel
	}
	var out Model
	err := c.multipart(ctx, "/v1/models", "file", req.Filename, req.Content, fields, &out)
	return &out, err
}

// MergeModel calls POST /v1/models/{id}/merge: the LoRA adapter model id folded into its base, registered as a
// plain model (runs `whet model merge` on the server).
func (c *Client) MergeModel(ctx context.Context, id string, req MergeModelRequest) (*Model, error) {
	var out Model
	return &out, c.do(ctx, http.MethodPost, "/v1/models/"+url.PathEscape(id)+"/merge", req, &out)
}

// ListModels calls GET /v1/models.
func (c *Client) ListModels(ctx context.Context) (*ModelList, error) {
	var out ModelList
	return &out, c.do(ctx, http.MethodGet, "/v1/models", nil, &out)
}

// GetModel calls GET /v1/models/{id}.
func (c *Client) GetModel(ctx context.Context, id string) (*Model, error) {
	var out Model
	return &out, c.do(ctx, http.MethodGet, "/v1/models/"+url.PathEscape(id), nil, &out)
}

// DeleteModel calls DELETE /v1/models/{id}; a model used by an unfinished job answers 409.
func (c *Client) DeleteModel(ctx context.Context, id string) (*DeleteResponse, error) {
	var out DeleteResponse
	return &out, c.do(ctx, http.MethodDelete, "/v1/models/"+url.PathEscape(id), nil, &out)
}

// ExportModel calls GET /v1/models/{id}/export?format=onnx[&quantize=int8] and returns the export folder as an
// uncompressed tar stream (config.json, tokenizer files, onnx/model.onnx, and onnx/model_quantized.onnx with
// Quantize "int8"). The caller closes it. A model that cannot be exported (no classifier, an adapter) answers 422.
func (c *Client) ExportModel(ctx context.Context, id string, req ExportModelRequest) (io.ReadCloser, error) {
	q := url.Values{}
	if req.Format != "" {
		q.Set("format", req.Format)
	}
	if req.Quantize != "" {
		q.Set("quantize", req.Quantize)
	}
	hr, err := c.newRequest(ctx, http.MethodGet, withQuery("/v1/models/"+url.PathEscape(id)+"/export", q), nil, "")
	if err != nil {
		return nil, err
	}
	resp, err := c.hc.Do(hr)
	if err != nil {
		return nil, fmt.Errorf("whet api: GET %s: %w", hr.URL.Path, err)
	}
	if resp.StatusCode/100 != 2 {
		defer resp.Body.Close()
		return nil, decodeStatusError(resp)
	}
	return resp.Body, nil
}

// Predict calls POST /v1/models/{id}/predict.
func (c *Client) Predict(ctx context.Context, model string, req PredictRequest) (PredictResponse, error) {
	var out PredictResponse
	return out, c.do(ctx, http.MethodPost, "/v1/models/"+url.PathEscape(model)+"/predict", req, &out)
}

// Evaluate calls POST /v1/models/{id}/evaluate and returns the metrics document, undecoded.
func (c *Client) Evaluate(ctx context.Context, model string, req EvaluateRequest) (json.RawMessage, error) {
	var out json.RawMessage
	return out, c.do(ctx, http.MethodPost, "/v1/models/"+url.PathEscape(model)+"/evaluate", req, &out)
}

// CreateJob calls POST /v1/fine_tuning/jobs.
func (c *Client) CreateJob(ctx context.Context, req CreateJobRequest) (*Job, error) {
	var out Job
	return &out, c.do(ctx, http.MethodPost, "/v1/fine_tuning/jobs", req, &out)
}

// ListJobs calls GET /v1/fine_tuning/jobs.
func (c *Client) ListJobs(ctx context.Context, req ListJobsRequest) (*JobList, error) {
	q := url.Values{}
	if req.After != "" {
		q.Set("after", req.After)
	}
	if req.Limit > 0 {
		q.Set("limit", strconv.Itoa(req.Limit))
	}
	var out JobList
	return &out, c.do(ctx, http.MethodGet, withQuery("/v1/fine_tuning/jobs", q), nil, &out)
}

// GetJob calls GET /v1/fine_tuning/jobs/{id}.
func (c *Client) GetJob(ctx context.Context, id string) (*Job, error) {
	var out Job
	return &out, c.do(ctx, http.MethodGet, "/v1/fine_tuning/jobs/"+url.PathEscape(id), nil, &out)
}

// CancelJob calls POST /v1/fine_tuning/jobs/{id}/cancel. A running job is interrupted (it writes a checkpoint
// first) and becomes cancelled shortly after; the returned Job may still say running.
func (c *Client) CancelJob(ctx context.Context, id string) (*Job, error) {
	var out Job
	return &out, c.do(ctx, http.MethodPost, "/v1/fine_tuning/jobs/"+url.PathEscape(id)+"/cancel", nil, &out)
}

// DeleteJob calls DELETE /v1/fine_tuning/jobs/{id}: a finished job's records, data and checkpoints go, and with
// req.DeleteModel its fine-tuned model too; an unfinished job answers 409 (cancel it first).
func (c *Client) DeleteJob(ctx context.Context, id string, req DeleteJobRequest) (*DeleteResponse, error) {
	path := "/v1/fine_tuning/jobs/" + url.PathEscape(id)
	if req.DeleteModel {
		path += "?delete_model=true"
	}
	var out DeleteResponse
	return &out, c.do(ctx, http.MethodDelete, path, nil, &out)
}

// ListJobEvents calls GET /v1/fine_tuning/jobs/{id}/events (one page, oldest first).
func (c *Client) ListJobEvents(ctx context.Context, id string, req ListEventsRequest) (*JobEventList, error) {
	q := url.Values{}
	if req.After > 0 {
		q.Set("after", strconv.FormatInt(req.After, 10))
	}
	if req.Limit > 0 {
		q.Set("limit", strconv.Itoa(req.Limit))
	}
	var out JobEventList
	return &out, c.do(ctx, http.MethodGet, withQuery("/v1/fine_tuning/jobs/"+url.PathEscape(id)+"/events", q), nil, &out)
}

// JobEventFunc receives each streamed event; a non-nil error stops the stream and is returned by
// StreamJobEvents.
type JobEventFunc func(JobEvent) error

// StreamJobEvents calls GET /v1/fine_tuning/jobs/{id}/events?stream=true and calls fn for every event with an
// ID larger than after, in order, as the server sends them (server-sent events). It returns nil once the job
// has reached a terminal status and every event was delivered, fn's error if fn fails, or ctx's error.
func (c *Client) StreamJobEvents(ctx context.Context, id string, after int64, fn JobEventFunc) error {
	q := url.Values{"stream": {"true"}}
	if after > 0 {
		q.Set("after", strconv.FormatInt(after, 10))
	}
	req, err := c.newRequest(ctx, http.MethodGet, withQuery("/v1/fine_tuning/jobs/"+url.PathEscape(id)+"/events", q), nil, "")
	if err != nil {
		return err
	}
	req.Header.Set("Accept", "text/event-stream")
	resp, err := c.hc.Do(req)
	if err != nil {
		return fmt.Errorf("whet api: GET events of job[%s]: %w", id, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		return decodeStatusError(resp)
	}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 16<<20)
	var data bytes.Buffer
	for sc.Scan() {
		line := sc.Text()
		switch {
		case line == "":
			if data.Len() == 0 {
				continue
			}
			payload := data.Bytes()
			if string(payload) == "[DONE]" {
				return nil
			}
			var ev JobEvent
			if err := json.Unmarshal(payload, &ev); err != nil {
				return fmt.Errorf("whet api: job[%s] event stream: bad event %q: %w", id, payload, err)
			}
			data.Reset()
			if err := fn(ev); err != nil {
				return err
			}
		case strings.HasPrefix(line, "data:"):
			if data.Len() > 0 {
				data.WriteByte('\n')
			}
			data.WriteString(strings.TrimPrefix(strings.TrimPrefix(line, "data:"), " "))
		case strings.HasPrefix(line, ":"), strings.HasPrefix(line, "id:"), strings.HasPrefix(line, "event:"),
			strings.HasPrefix(line, "retry:"):
			// comments (keep-alives) and fields carried again inside data
		}
	}
	if err := sc.Err(); err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return fmt.Errorf("whet api: job[%s] event stream: %w", id, err)
	}
	if ctx.Err() != nil {
		return ctx.Err()
	}
	return fmt.Errorf("whet api: job[%s] event stream ended before the job finished", id)
}

// ListJobCheckpoints calls GET /v1/fine_tuning/jobs/{id}/checkpoints.
func (c *Client) ListJobCheckpoints(ctx context.Context, id string) (*CheckpointList, error) {
	var out CheckpointList
	return &out, c.do(ctx, http.MethodGet, "/v1/fine_tuning/jobs/"+url.PathEscape(id)+"/checkpoints", nil, &out)
}

func withQuery(path string, q url.Values) string {
	if len(q) == 0 {
		return path
	}
	return path + "?" + q.Encode()
}

func (c *Client) newRequest(ctx context.Context, method, path string, body io.Reader, contentType string) (*http.Request, error) {
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, body)
	if err != nil {
		return nil, fmt.Errorf("whet api: %s %s: %w", method, path, err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	req.Header.Set("Accept", "application/json")
	if c.apiKey != "" {
		req.Header.Set("Authorization", "Bearer "+c.apiKey)
	}
	return req, nil
}

// do sends in (JSON, when not nil) and decodes a 2xx body into out.
func (c *Client) do(ctx context.Context, method, path string, in, out any) error {
	var body io.Reader
	ct := ""
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return fmt.Errorf("whet api: %s %s: encode request: %w", method, path, err)
		}
		body, ct = bytes.NewReader(b), "application/json"
	}
	req, err := c.newRequest(ctx, method, path, body, ct)
	if err != nil {
		return err
	}
	return c.send(req, out)
}

// multipart streams a multipart form (one file part plus text fields) without holding the file in memory.
func (c *Client) multipart(ctx context.Context, path, field, filename string, r io.Reader, fields map[string]string, out any) error {
	pr, pw := io.Pipe()
	mw := multipart.NewWriter(pw)
	go func() {
		err := func() error {
			for k, v := range fields {
				if err := mw.WriteField(k, v); err != nil {
					return err
				}
			}
			fw, err := mw.CreateFormFile(field, filename)
			if err != nil {
				return err
			}
			if _, err := io.Copy(fw, r); err != nil {
				return err
			}
			return mw.Close()
		}()
		pw.CloseWithError(err)
	}()
	req, err := c.newRequest(ctx, http.MethodPost, path, pr, mw.FormDataContentType())
	if err != nil {
		pr.CloseWithError(err)
		return err
	}
	err = c.send(req, out)
	pr.CloseWithError(errors.New("request finished"))
	return err
}

func (c *Client) send(req *http.Request, out any) error {
	resp, err := c.hc.Do(req)
	if err != nil {
		return fmt.Errorf("whet api: %s %s: %w", req.Method, req.URL.Path, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		return decodeStatusError(resp)
	}
	if out == nil {
		_, _ = io.Copy(io.Discard, resp.Body)
		return nil
	}
	if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
		return fmt.Errorf("whet api: %s %s: decode response: %w", req.Method, req.URL.Path, err)
	}
	return nil
}

func decodeStatusError(resp *http.Response) error {
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	se := &StatusError{StatusCode: resp.StatusCode}
	var er ErrorResponse
	if err := json.Unmarshal(b, &er); err == nil && er.Error.Message != "" {
		se.Err = er.Error
	} else {
		se.Err = Error{Message: strings.TrimSpace(string(b)), Type: "http_error"}
		if se.Err.Message == "" {
			se.Err.Message = http.StatusText(resp.StatusCode)
		}
	}
	return se
}

// ListWorkers calls GET /v1/workers (a server started with --cluster).
func (c *Client) ListWorkers(ctx context.Context) (*WorkerList, error) {
	var out WorkerList
	return &out, c.do(ctx, http.MethodGet, "/v1/workers", nil, &out)
}

// DrainWorker calls POST /v1/workers/{id}/drain: the worker takes no new jobs and exits once its jobs finish.
func (c *Client) DrainWorker(ctx context.Context, id string) (*Worker, error) {
	var out Worker
	return &out, c.do(ctx, http.MethodPost, "/v1/workers/"+url.PathEscape(id)+"/drain", nil, &out)
}

// CreateWorkerToken calls POST /v1/workers/tokens: new worker credentials (the password is returned only once).
func (c *Client) CreateWorkerToken(ctx context.Context, req CreateWorkerTokenRequest) (*WorkerCredentials, error) {
	var out WorkerCredentials
	return &out, c.do(ctx, http.MethodPost, "/v1/workers/tokens", req, &out)
}
