package cluster

import (
	"encoding/json"
	"fmt"
	"os"
	"time"

	"github.com/whetml/whet/internal/runspec"
	"github.com/whetml/whet/sdk"
)

// Names shared by server and workers.
const (
	StreamJobs      = "WHET_JOBS"
	SubjectDispatch = "whet.jobs.dispatch"
	ConsumerWorkers = "workers"
	Bucket          = "whet"

	subjRegister  = "whet.srv.register"
	subjClaim     = "whet.srv.claim"
	subjHeartbeat = "whet.srv.heartbeat"
	subjLines     = "whet.srv.lines"
	subjFinish    = "whet.srv.finish"

	// tryTimeout is how long a worker waits for the server's answer before sending a request again.
	tryTimeout = 2 * time.Second

	// serverUser is the NATS user the server connects as (its password is random per process).
	serverUser = "whet-server"
)

type dispatchMsg struct {
	Job     string `json:"job"`
	Attempt int    `json:"attempt"`
}

type registerReq struct {
	Worker string `json:"worker"`
	Host   string `json:"host"`
	Slots  int    `json:"slots"`
}

type registerResp struct {
	AckWaitMS   int64  `json:"ack_wait_ms"`
	HeartbeatMS int64  `json:"heartbeat_ms"`
	Error       string `json:"error,omitempty"`
}

type claimReq struct {
	Worker string `json:"worker"`
	Job    string `json:"job"`
	// Claim is random per delivered job: the same claim sent again (its reply was lost) gets the same attempt.
	Claim string `json:"claim"`
}

type claimResp struct {
	Drop  bool   `json:"drop,omitempty"`
	Retry bool   `json:"retry,omitempty"`
	Error string `json:"error,omitempty"`

	Token           string                  `json:"token,omitempty"`
	Model           string                  `json:"model,omitempty"`
	ModelObject     string                  `json:"model_object,omitempty"`
	InputObjects    []string                `json:"input_objects,omitempty"` // archives extracted into the input folder
	ResumeObject    string                  `json:"resume_object,omitempty"`
	ResumeName      string                  `json:"resume_name,omitempty"`
	Hyperparameters runspec.Hyperparameters `json:"hyperparameters"`
	HasValidation   bool                    `json:"has_validation,omitempty"`
	ValidationSplit float64                 `json:"validation_split,omitempty"`
	HasPreprocess   bool                    `json:"has_preprocess,omitempty"`
	HasEvaluate     bool                    `json:"has_evaluate,omitempty"`
}

type jobRef struct {
	Job   string `json:"job"`
	Token string `json:"token"`
}

func (r *jobRef) ref() jobRef { return *r }

type heartbeatReq struct {
	registerReq
	Jobs []jobRef `json:"jobs"`
}

type heartbeatResp struct {
	Drain bool     `json:"drain,omitempty"`
	Stop  []string `json:"stop,omitempty"` // tokens of attempts to interrupt
	Error string   `json:"error,omitempty"`
}

type linesReq struct {
	jobRef
	// Seq is the number of the attempt's lines sent before these: lines the server already has (the batch
	// was sent again after its reply was lost) are skipped.
	Seq   int      `json:"seq"`
	Lines []string `json:"lines"`
}

type finishReq struct {
	jobRef
	Worker    string `json:"worker"`
	ExitError string `json:"exit_error,omitempty"` // "" = exited cleanly, out.tar uploaded
	Summary   string `json:"summary,omitempty"`
}

type reply struct {
	Drop  bool   `json:"drop,omitempty"`
	Busy  bool   `json:"busy,omitempty"` // too many requests at once: send it again
	Error string `json:"error,omitempty"`
}

// ReadCredentials reads a worker credentials file written by `whet workers token`.
func ReadCredentials(path string) (*sdk.WorkerCredentials, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("worker credentials file: %w (make one with `whet workers token`)", err)
	}
	var c sdk.WorkerCredentials
	if err := json.Unmarshal(b, &c); err != nil || c.User == "" || c.Password == "" {
		return nil, fmt.Errorf("credentials[%s]: not a whet worker credentials file (want JSON with \"user\" and \"password\"; make one with `whet workers token`)", path)
	}
	return &c, nil
}

func objResume(job string) string { return "jobs/" + job + "/resume.tar" }
func objCheckpoint(job, token, base string) string {
	return "jobs/" + job + "/" + token + "/" + base + ".tar"
}
func objOut(job, token string) string { return "jobs/" + job + "/" + token + "/out.tar" }
