package api

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net/http"
	"runtime"
	"strings"
	"sync/atomic"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/gofiber/fiber/v2/middleware/adaptor"
	"github.com/gofiber/fiber/v2/middleware/filesystem"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/valyala/fasthttp"

	"github.com/whetml/whet/host/jobs"
	"github.com/whetml/whet/host/predict"
	"github.com/whetml/whet/host/sandbox"
	"github.com/whetml/whet/host/store"
	"github.com/whetml/whet/sdk"
)

// Defaults for Config.
const (
	DefaultMaxFileBytes     int64 = 512 << 20
	DefaultMaxModuleBytes   int64 = 64 << 20
	DefaultMaxModelBytes    int64 = 2 << 30
	DefaultMaxJSONBytes           = 16 << 20
	DefaultMaxPredictInputs       = 1024
	DefaultRequestTimeout         = 2 * time.Minute
	DefaultReadTimeout            = 30 * time.Second
	DefaultUploadTimeout          = 15 * time.Minute
	DefaultMaxConns               = 1024
	DefaultModuleRunQueue         = 16
	DefaultModuleRunMemory  int64 = 3 << 29
	DefaultIdleTimeout            = 2 * time.Minute
	DefaultImbalanceRatio         = 10.0
	DefaultMinRowsPerLabel        = 10
	DefaultKeepAlive              = 15 * time.Second
	DefaultEvalTimeout            = 30 * time.Minute
)

// Config configures a Server. Zero fields take their defaults.
type Config struct {
	// Store holds files, modules, models, jobs and keys. Required.
	Store *store.Store
	// Queue runs fine-tuning jobs. Required.
	Queue *jobs.Queue
	// Predictor serves predictions. Required.
	Predictor *predict.Pool
	// Cluster serves the /v1/workers routes (host/cluster.Coordinator). Default: nil (they answer 404: the server
	// runs without --cluster).
	Cluster Cluster
	// Sandbox validates uploaded modules and runs module dry runs. Required.
	Sandbox *sandbox.Runtime
	// Metrics records Prometheus metrics; share it with jobs.Config.OnStep/OnFinish. Default: NewMetrics(nil).
	Metrics *Metrics
	// APIKeys are accepted as "Authorization: Bearer <key>" besides the keys stored with `whet keys create`; they
	// have the admin scope. When both are empty, the API is open. Default: none.
	APIKeys []string
	// AllowOrigins are the browser origins ("https://app.example") besides the server's own that may call the API
	// (CORS). Requests from any other origin get 403. Default: none.
	AllowOrigins []string
	// AllowHosts are the Host names besides IP addresses and localhost a server without API keys answers to
	// (DNS rebinding guard). Default: none.
	AllowHosts []string
	// InsecureNoAuth marks a server without API keys that listens beyond loopback on purpose (whet serve
	// --insecure-no-auth): any Host name is answered and keyless requests get the user scope, not admin.
	// Default: false.
	InsecureNoAuth bool
	// MetricsToken, when set, is accepted as "Authorization: Bearer <token>" at GET /metrics (and nowhere else),
	// besides the API keys: a scraper needs no API key. Default: "" (an API key of any scope, when keys exist).
	MetricsToken string
	// ImportRoots are the folders from_path may import from (an admin operation); empty: any folder the server can
	// read. Default: none.
	ImportRoots []string
	// Static is served at / (the web UI). Default: nil (nothing served).
	Static fs.FS
	// Logger receives request logs and errors. Default: a logger that discards.
	Logger *slog.Logger
	// MaxFileBytes caps a dataset upload. Default: DefaultMaxFileBytes (512 MiB).
	MaxFileBytes int64
	// MaxModuleBytes caps a .wasm upload. Default: DefaultMaxModuleBytes (64 MiB).
	MaxModuleBytes int64
	// MaxModelBytes caps a model archive upload (and its extracted content). Default: DefaultMaxModelBytes (2 GiB).
	// Larger models can be imported with from_path (admin scope).
	MaxModelBytes int64
	// MaxJSONBytes caps a JSON request body. Default: DefaultMaxJSONBytes (16 MiB).
	MaxJSONBytes int
	// MaxPredictInputs caps the inputs of one predict request. Default: DefaultMaxPredictInputs.
	MaxPredictInputs int
	// RequestTimeout bounds each request's work (not event streams). Default: DefaultRequestTimeout.
	RequestTimeout time.Duration
	// ReadTimeout bounds reading a request's header and any body but an upload's. Default: DefaultReadTimeout.
	ReadTimeout time.Duration
	// UploadTimeout bounds reading the body of an authenticated upload (POST /v1/files, /v1/modules, /v1/models).
	// Default: DefaultUploadTimeout.
	UploadTimeout time.Duration
	// MaxConns caps open connections: more are answered 503 and closed. Keep it well below the process's file
	// descriptor limit (server.Run does). Default: DefaultMaxConns.
	MaxConns int
	// IdleTimeout closes idle keep-alive connections. Default: DefaultIdleTimeout.
	IdleTimeout time.Duration
	// ModuleRuns caps the runs of uploaded module code in the API process at once (dry runs, server-side
	// tokenization, checks at upload); ModuleRunsPerKey caps them per API key, ModuleRunQueue the runs waiting for
	// a turn (more get 429), ModuleRunMemory the server memory they may reserve together (each run reserves three
	// times its instances' memory limit, limit.go). Defaults: half of GOMAXPROCS (at least 1; with server.Run's one
	// instance per run, they leave half the cores to predictions and training), half of ModuleRuns (at least 1),
	// DefaultModuleRunQueue, DefaultModuleRunMemory (1.5 GiB).
	ModuleRuns, ModuleRunsPerKey, ModuleRunQueue int
	ModuleRunMemory                              int64
	// ImbalanceRatio: an upload whose largest label has more than this many times the rows of its smallest gets
	// a warning. Default: DefaultImbalanceRatio.
	ImbalanceRatio float64
	// MinRowsPerLabel: an upload with a label of fewer rows gets a warning. Default: DefaultMinRowsPerLabel.
	MinRowsPerLabel int
	// KeepAlive is the interval of comment lines on idle event streams. Default: DefaultKeepAlive.
	KeepAlive time.Duration
	// Export writes a model folder's ONNX export (fp32 and int8) into outDir, for GET /v1/models/{id}/export
	// (RunExport runs `whet export`). Default: nil (the export routes answer 501).
	Export func(ctx context.Context, modelDir, outDir string) error
	// EvalTimeout bounds POST /v1/models/{id}/evaluate (it runs `whet eval`) and /merge (`whet model merge`).
	// Default: DefaultEvalTimeout.
	EvalTimeout time.Duration
}

// Server is whet's HTTP API. Build the fiber app with App (or FiberConfig and Routes).
type Server struct {
	cfg      Config
	st       *store.Store
	q        *jobs.Queue
	pool     *predict.Pool
	rt       *sandbox.Runtime
	m        *Metrics
	log      *slog.Logger
	keyHash  [][32]byte
	runs     *limiter
	baseCtx  context.Context
	cancel   context.CancelFunc
	closed   atomic.Bool
	streams  atomic.Int64
	stopping chan struct{}
	// exportSem lets one ONNX export run at a time (export.go).
	exportSem chan struct{}
}

// New checks cfg and returns a Server.
func New(cfg Config) (*Server, error) {
	switch {
	case cfg.Store == nil:
		return nil, errors.New("api: config Store is required")
	case cfg.Queue == nil:
		return nil, errors.New("api: config Queue is required")
	case cfg.Predictor == nil:
		return nil, errors.New("api: config Predictor is required")
	case cfg.Sandbox == nil:
		return nil, errors.New("api: config Sandbox is required")
	}
	if err := cfg.fill(); err != nil {
		return nil, err
	}
	s := &Server{cfg: cfg, st: cfg.Store, q: cfg.Queue, pool: cfg.Predictor, rt: cfg.Sandbox, m: cfg.Metrics,
		log: cfg.Logger, stopping: make(chan struct{}), exportSem: make(chan struct{}, 1)}
	s.runs = newLimiter(cfg.ModuleRuns, cfg.ModuleRunsPerKey, cfg.ModuleRunQueue, cfg.ModuleRunMemory)
	for _, k := range cfg.APIKeys {
		if k != "" {
			s.keyHash = append(s.keyHash, sha256.Sum256([]byte(k)))
		}
	}
	s.baseCtx, s.cancel = context.WithCancel(context.Background())
	s.m.registerJobs(cfg.Store)
	return s, nil
}

// fill gives cfg's zero fields their defaults and checks its limits.
func (cfg *Config) fill() error {
	if cfg.Metrics == nil {
		cfg.Metrics = NewMetrics(nil)
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	orDefault(&cfg.MaxFileBytes, DefaultMaxFileBytes)
	orDefault(&cfg.MaxModuleBytes, DefaultMaxModuleBytes)
	orDefault(&cfg.MaxModelBytes, DefaultMaxModelBytes)
	orDefault(&cfg.MaxJSONBytes, DefaultMaxJSONBytes)
	orDefault(&cfg.MaxPredictInputs, DefaultMaxPredictInputs)
	orDefault(&cfg.RequestTimeout, DefaultRequestTimeout)
	orDefault(&cfg.ReadTimeout, DefaultReadTimeout)
	orDefault(&cfg.UploadTimeout, DefaultUploadTimeout)
	orDefault(&cfg.MaxConns, DefaultMaxConns)
	orDefault(&cfg.ModuleRuns, max(1, runtime.GOMAXPROCS(0)/2))
	orDefault(&cfg.ModuleRunsPerKey, max(1, cfg.ModuleRuns/2))
	orDefault(&cfg.ModuleRunQueue, DefaultModuleRunQueue)
	orDefault(&cfg.ModuleRunMemory, DefaultModuleRunMemory)
	orDefault(&cfg.IdleTimeout, DefaultIdleTimeout)
	orDefault(&cfg.ImbalanceRatio, DefaultImbalanceRatio)
	orDefault(&cfg.MinRowsPerLabel, DefaultMinRowsPerLabel)
	orDefault(&cfg.KeepAlive, DefaultKeepAlive)
	orDefault(&cfg.EvalTimeout, DefaultEvalTimeout)
	if cfg.MaxFileBytes < 0 || cfg.MaxModuleBytes < 0 || cfg.MaxModelBytes < 0 || cfg.MaxJSONBytes < 0 {
		return errors.New("api: config size limits must be positive")
	}
	return nil
}

// orDefault sets *v to d when it is zero.
func orDefault[T comparable](v *T, d T) {
	var zero T
	if *v == zero {
		*v = d
	}
}

func (s *Server) bodyLimit() int {
	limit := max(s.cfg.MaxFileBytes, s.cfg.MaxModuleBytes, s.cfg.MaxModelBytes, int64(s.cfg.MaxJSONBytes))
	return int(limit + 1<<20) // multipart overhead
}

// FiberConfig returns the fiber settings the routes need: the ErrorHandler, streamed request bodies (each route
// reads its own limit after authentication), timeouts, path unescaping (model ids carry ':'), and Immutable (values read from
// a Ctx are copies, so they may outlive the handler).
func (s *Server) FiberConfig() fiber.Config {
	return fiber.Config{
		AppName:      "whet",
		ErrorHandler: s.ErrorHandler,
		BodyLimit:    s.bodyLimit(),
		// Bodies are read by the handlers, after authentication, within each route's limit (body.go).
		StreamRequestBody:            true,
		DisablePreParseMultipartForm: true,
		ReadTimeout:                  s.cfg.ReadTimeout,
		IdleTimeout:                  s.cfg.IdleTimeout,
		UnescapePath:                 true,
		Immutable:                    true, // Params and bodies outlive handlers (event streams, the predict pool)
		DisableStartupMessage:        true,
		ReadBufferSize:               16 << 10,
	}
}

// App returns a fiber app with FiberConfig and every route, whose authenticated uploads may take
// Config.UploadTimeout to arrive.
func (s *Server) App() *fiber.App {
	app := fiber.New(s.FiberConfig())
	app.Server().HeaderReceived = s.headerReceived
	s.Routes(app)
	return app
}

// uploadRoutes are the routes whose bodies may take Config.UploadTimeout.
var uploadRoutes = map[string]bool{"/v1/files": true, "/v1/modules": true, "/v1/models": true}

// headerReceived runs once a request's header is in: an authenticated upload gets Config.UploadTimeout for its
// body; everything else keeps Config.ReadTimeout, so a slow client without a key holds a connection only briefly.
func (s *Server) headerReceived(h *fasthttp.RequestHeader) fasthttp.RequestConfig {
	path, _, _ := strings.Cut(string(h.RequestURI()), "?")
	if string(h.Method()) != fiber.MethodPost || !uploadRoutes[path] {
		return fasthttp.RequestConfig{}
	}
	ctx, cancel := context.WithTimeout(s.baseCtx, 5*time.Second)
	defer cancel()
	if _, err := s.verify(ctx, string(h.Peek(fiber.HeaderAuthorization))); err != nil {
		return fasthttp.RequestConfig{}
	}
	return fasthttp.RequestConfig{ReadTimeout: s.cfg.UploadTimeout}
}

// Close ends open event streams (so a graceful HTTP shutdown does not wait on them) and cancels work started by
// requests. Call it before shutting the fiber app down. Idempotent.
func (s *Server) Close(ctx context.Context) error {
	if s.closed.CompareAndSwap(false, true) {
		close(s.stopping)
		s.cancel()
	}
	return nil
}

// Routes registers every route on app: this is the API table (DESIGN.md).
func (s *Server) Routes(app *fiber.App) {
	app.Use(s.logRequests, s.withTimeout, s.guard)
	app.Get("/healthz", s.HealthHandler)
	app.Get("/metrics", s.authenticateMetrics, adaptor.HTTPHandler(promhttp.HandlerFor(s.m.reg, promhttp.HandlerOpts{})))

	v1 := app.Group("/v1", s.authenticate)
	v1.Post("/files", s.UploadFileHandler)
	v1.Get("/files", s.ListFilesHandler)
	v1.Get("/files/:id", s.GetFileHandler)
	v1.Delete("/files/:id", s.DeleteFileHandler)

	v1.Post("/modules", s.UploadModuleHandler)
	v1.Get("/modules", s.ListModulesHandler)
	v1.Get("/modules/:id", s.GetModuleHandler)
	v1.Delete("/modules/:id", s.DeleteModuleHandler)
	v1.Post("/modules/:id/run", s.RunModuleHandler)

	v1.Post("/fine_tuning/jobs", s.CreateJobHandler)
	v1.Get("/fine_tuning/jobs", s.ListJobsHandler)
	v1.Get("/fine_tuning/jobs/:id", s.GetJobHandler)
	v1.Get("/fine_tuning/jobs/:id/events", s.JobEventsHandler)
	v1.Get("/fine_tuning/jobs/:id/checkpoints", s.ListCheckpointsHandler)
	v1.Post("/fine_tuning/jobs/:id/cancel", s.CancelJobHandler)
	v1.Delete("/fine_tuning/jobs/:id", s.DeleteJobHandler)
	v1.Get("/fine_tuning/jobs/:id/log", s.JobLogHandler)

	v1.Post("/models", s.CreateModelHandler)
	v1.Get("/models", s.ListModelsHandler)
	v1.Get("/models/:id", s.GetModelHandler)
	v1.Delete("/models/:id", s.DeleteModelHandler)
	v1.Post("/models/:id/predict", s.PredictHandler)
	v1.Post("/models/:id/evaluate", s.EvaluateHandler)
	v1.Post("/models/:id/merge", s.MergeModelHandler)
	s.WebRoutes(v1)    // the web page's extra routes (web_routes.go, docs/contracts.md "web")
	s.ExportRoutes(v1) // ONNX export (export.go)
	s.WorkerRoutes(v1) // remote workers (workers.go)

	if s.cfg.Static != nil {
		app.Use("/", filesystem.New(filesystem.Config{Root: http.FS(s.cfg.Static), Index: "index.html"}))
	}
}

// HealthHandler is GET /healthz: 200 {"status":"ok"} when the database answers.
func (s *Server) HealthHandler(c *fiber.Ctx) error {
	if err := s.st.Ping(c.UserContext()); err != nil {
		return &Error{Status: 503, Type: "server_error", Code: "unhealthy", Message: "database unavailable"}
	}
	return c.JSON(sdk.HealthResponse{Status: "ok"})
}

// logRequests logs one line per request and applies ErrorHandler itself, so the logged status is the sent one.
func (s *Server) logRequests(c *fiber.Ctx) error {
	start := time.Now()
	err := c.Next()
	if err != nil {
		if herr := s.ErrorHandler(c, err); herr != nil {
			return herr
		}
	}
	status := c.Response().StatusCode()
	route := c.Route().Path
	s.m.requests.WithLabelValues(c.Method(), route, statusClass(status)).Inc()
	s.log.Info("request", "method", c.Method(), "path", c.Path(), "status", status,
		"duration_ms", time.Since(start).Milliseconds())
	return nil
}

func statusClass(code int) string {
	return string(rune('0'+code/100)) + "xx"
}

// withTimeout gives each request a context bounded by Config.RequestTimeout and cancelled by Close.
func (s *Server) withTimeout(c *fiber.Ctx) error {
	ctx, cancel := context.WithTimeout(s.baseCtx, s.cfg.RequestTimeout)
	defer cancel()
	c.SetUserContext(ctx)
	return c.Next()
}

// keyed reports whether the server requires API keys: a key was given in Config.APIKeys or is stored.
func (s *Server) keyed(c *fiber.Ctx) (bool, error) {
	if len(s.keyHash) > 0 {
		return true, nil
	}
	return s.st.HasKeys(c.UserContext())
}

// principal is who a request acts as: a key (its id, "" for a keyless server, "api-key" for Config.APIKeys)
// and that key's scope (store.ScopeRead, ScopeUser or ScopeAdmin).
type principal struct{ key, scope string }

const principalLocal = "whet.principal"

// principalOf returns the principal authenticate found for c.
func principalOf(c *fiber.Ctx) principal {
	p, _ := c.Locals(principalLocal).(principal)
	return p
}

// authenticate requires a valid Bearer key when any key is configured or stored, and a key whose scope allows the
// route: reads (GET) and inference (predict, tokenize) need the read scope, everything else the user scope.
func (s *Server) authenticate(c *fiber.Ctx) error {
	p, err := s.verify(c.UserContext(), c.Get(fiber.HeaderAuthorization))
	if err != nil {
		return err
	}
	need := store.ScopeUser
	if m := c.Method(); m == fiber.MethodGet || m == fiber.MethodHead ||
		strings.HasSuffix(c.Path(), "/predict") || strings.HasSuffix(c.Path(), "/tokenize") {
		need = store.ScopeRead
	}
	if !store.ScopeAllows(p.scope, need) {
		return forbidden(p, need, c.Method()+" "+c.Path())
	}
	c.Locals(principalLocal, p)
	return c.Next()
}

// authenticateMetrics lets GET /metrics through with Config.MetricsToken or any API key (it lists model ids and
// their traffic); open on a keyless server, like the API.
func (s *Server) authenticateMetrics(c *fiber.Ctx) error {
	if hasBody(c) {
		// The Prometheus handler would read a body whole; a scrape has none.
		return badRequest("", "unexpected_body", "GET /metrics takes no request body")
	}
	if tok := s.cfg.MetricsToken; tok != "" {
		sum, want := sha256.Sum256([]byte(c.Get(fiber.HeaderAuthorization))), sha256.Sum256([]byte("Bearer "+tok))
		if subtle.ConstantTimeCompare(sum[:], want[:]) == 1 {
			return c.Next()
		}
	}
	if _, err := s.verify(c.UserContext(), c.Get(fiber.HeaderAuthorization)); err != nil {
		return err
	}
	return c.Next()
}

// forbidden is the 403 for principal p doing what needs scope need.
func forbidden(p principal, need, what string) *Error {
	msg := fmt.Sprintf("this API key has the %s scope; %s needs a key with the %s scope (`whet keys create --scope %s`)", p.scope, what, need, need)
	if p.key == "" {
		msg = fmt.Sprintf("%s needs a key with the %s scope: this server runs without API keys beyond loopback (--insecure-no-auth), which allows only the %s scope", what, need, p.scope)
	}
	return &Error{Status: fiber.StatusForbidden, Type: "permission_error", Code: "insufficient_scope", Message: msg}
}

// verify checks an Authorization header value and returns who it is; a 401 when the server has keys and h holds
// none of them. A keyless server's requests have the admin scope (the user scope with Config.InsecureNoAuth).
func (s *Server) verify(ctx context.Context, h string) (principal, error) {
	stored, err := s.st.HasKeys(ctx)
	if err != nil {
		return principal{}, err
	}
	if len(s.keyHash) == 0 && !stored {
		if s.cfg.InsecureNoAuth {
			return principal{scope: store.ScopeUser}, nil
		}
		return principal{scope: store.ScopeAdmin}, nil
	}
	if h == "" {
		return principal{}, &Error{Status: 401, Type: "authentication_error", Code: "missing_api_key",
			Message: "missing API key: send \"Authorization: Bearer <key>\" (keys come from `whet serve --api-key` or `whet keys create --data DIR`)"}
	}
	key, ok := strings.CutPrefix(h, "Bearer ")
	if !ok || strings.TrimSpace(key) == "" {
		return principal{}, &Error{Status: 401, Type: "authentication_error", Code: "invalid_authorization",
			Message: "malformed Authorization header: expected \"Bearer <key>\""}
	}
	key = strings.TrimSpace(key)
	sum := sha256.Sum256([]byte(key))
	for _, k := range s.keyHash {
		if subtle.ConstantTimeCompare(sum[:], k[:]) == 1 {
			return principal{key: "api-key", scope: store.ScopeAdmin}, nil
		}
	}
	if stored {
		k, err := s.st.LookupKey(ctx, key)
		if err != nil {
			return principal{}, err
		}
		if k != nil {
			return principal{key: k.ID, scope: k.Scope}, nil
		}
	}
	return principal{}, &Error{Status: 401, Type: "authentication_error", Code: "invalid_api_key", Message: "incorrect API key provided"}
}
