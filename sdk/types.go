package sdk

import (
	"encoding/json"
	"fmt"
	"io"
)

// Object names carried in the "object" field of every resource, as in the OpenAI API.
const (
	ObjectList       = "list"
	ObjectFile       = "file"
	ObjectModule     = "module"
	ObjectModel      = "model"
	ObjectJob        = "fine_tuning.job"
	ObjectJobEvent   = "fine_tuning.job.event"
	ObjectCheckpoint = "fine_tuning.job.checkpoint"
)

// PurposeFineTune is the only purpose POST /v1/files accepts.
const PurposeFineTune = "fine-tune"

// Module kinds accepted by POST /v1/modules.
const (
	// ModuleKindPreprocess turns texts into token ids (a tokenizer, a cleaner, an augmenter).
	ModuleKindPreprocess = "preprocess"
	// ModuleKindEvaluate turns labels and predictions into a metrics document.
	ModuleKindEvaluate = "evaluate"
)

// Job status values (DESIGN.md). host/jobs owns their meaning and the transitions between them.
const (
	JobValidatingFiles = "validating_files"
	JobQueued          = "queued"
	JobRunning         = "running"
	JobSucceeded       = "succeeded"
	JobFailed          = "failed"
	JobCancelled       = "cancelled"
)

// Job event types carried in JobEvent.Type.
const (
	// EventMessage is a log line: Level and Message only.
	EventMessage = "message"
	// EventStatus reports a status change; Data.Status holds the new status.
	EventStatus = "status"
	// EventMetrics reports a training step; Data holds Step, TotalSteps, Epoch, Loss, LearningRate and
	// SamplesPerSecond.
	EventMetrics = "metrics"
	// EventEval reports an evaluation on the validation set; Data.Metrics holds the metrics document.
	EventEval = "eval"
	// EventCheckpoint reports a saved checkpoint; Data.Checkpoint names it and Data.Metrics holds its metrics.
	EventCheckpoint = "checkpoint"
)

// Error is the body of every error response, inside ErrorResponse: the OpenAI error shape.
type Error struct {
	// Message says what went wrong and what to fix, naming the file, line, field or limit.
	Message string `json:"message"`
	// Type is the error class: "invalid_request_error", "authentication_error", "not_found_error",
	// "conflict_error", "request_too_large", "server_error".
	Type string `json:"type"`
	// Param names the request field at fault ("training_file", "hyperparameters.learning_rate"), if any.
	Param *string `json:"param"`
	// Code is a stable machine-readable reason ("invalid_file", "not_found", "missing_api_key"), if any.
	Code *string `json:"code"`
}

// Error implements error.
func (e *Error) Error() string {
	if e.Param != nil && *e.Param != "" {
		return fmt.Sprintf("%s (param %s)", e.Message, *e.Param)
	}
	return e.Message
}

// ErrorResponse is the JSON body of every non-2xx response: {"error":{...}}.
type ErrorResponse struct {
	// Error describes the failure.
	Error Error `json:"error"`
}

// HealthResponse is the body of GET /healthz.
type HealthResponse struct {
	// Status is "ok" when the server, its store and its queue are up.
	Status string `json:"status"`
}

// File is a dataset uploaded with POST /v1/files, validated at upload.
type File struct {
	// ID names the file in job requests ("file-...").
	ID string `json:"id"`
	// Object is always "file".
	Object string `json:"object"`
	// Bytes is the size of the uploaded content.
	Bytes int64 `json:"bytes"`
	// CreatedAt is the upload time, in Unix seconds.
	CreatedAt int64 `json:"created_at"`
	// Filename is the name the file was uploaded with.
	Filename string `json:"filename"`
	// Purpose is always "fine-tune".
	Purpose string `json:"purpose"`
	// Format is "jsonl", "csv" or "tsv".
	Format string `json:"format"`
	// SHA256 is the hex digest of the content; the server stores each content once.
	SHA256 string `json:"sha256"`
	// Rows is the number of data rows (header excluded).
	Rows int `json:"rows"`
	// Labels lists the distinct labels, sorted (numerically when all are integers).
	Labels []string `json:"labels"`
	// LabelCounts maps each label to its number of rows.
	LabelCounts map[string]int `json:"label_counts"`
	// TextColumn names the text column (or JSON key) given at upload (form field text_column); "" means found
	// by name: the first of text, sentence, text_a, content, review.
	TextColumn string `json:"text_column,omitempty"`
	// LabelColumn names the label column given at upload (form field label_column); "" means found by name: the
	// first of label, labels, target, class.
	LabelColumn string `json:"label_column,omitempty"`
	// Warnings lists problems that do not block training: badly imbalanced classes, labels with too few rows.
	Warnings []string `json:"warnings,omitempty"`
	// Status is "processed": a file that fails validation is never stored.
	Status string `json:"status"`
}

// UploadFileRequest is the multipart form of POST /v1/files.
type UploadFileRequest struct {
	// Filename is the name sent with the content; its extension (.jsonl, .csv, .tsv) picks the format.
	Filename string
	// Content is the file's content, streamed.
	Content io.Reader
	// Purpose must be PurposeFineTune (the default when empty).
	Purpose string
	// TextColumn names the text column when it is not found by name. Default: "".
	TextColumn string
	// LabelColumn names the label column when it is not found by name. Default: "".
	LabelColumn string
}

// FileList is the body of GET /v1/files.
type FileList struct {
	// Object is always "list".
	Object string `json:"object"`
	// Data holds the files, newest first.
	Data []File `json:"data"`
	// HasMore is always false: the list is complete.
	HasMore bool `json:"has_more"`
}

// Module is a WASM module uploaded with POST /v1/modules and validated by the sandbox at upload.
type Module struct {
	// ID names the module in job requests ("mod-...").
	ID string `json:"id"`
	// Object is always "module".
	Object string `json:"object"`
	// Name is the name given at upload, or the one the module declares.
	Name string `json:"name"`
	// Kind is "preprocess" or "evaluate".
	Kind string `json:"kind"`
	// SHA256 is the hex digest of the .wasm content.
	SHA256 string `json:"sha256"`
	// ABIVersion is the module ABI version the module was built against.
	ABIVersion int `json:"abi_version"`
	// Bytes is the size of the .wasm file.
	Bytes int64 `json:"bytes"`
	// CreatedAt is the upload time, in Unix seconds.
	CreatedAt int64 `json:"created_at"`
}

// UploadModuleRequest is the multipart form of POST /v1/modules.
type UploadModuleRequest struct {
	// Filename is the name sent with the content.
	Filename string
	// Content is the .wasm module, streamed.
	Content io.Reader
	// Kind is ModuleKindPreprocess or ModuleKindEvaluate; it must match what the module declares.
	Kind string
	// Name names the module. Default: the name the module declares.
	Name string
}

// ModuleList is the body of GET /v1/modules.
type ModuleList struct {
	// Object is always "list".
	Object string `json:"object"`
	// Data holds the modules, newest first.
	Data []Module `json:"data"`
	// HasMore is always false: the list is complete.
	HasMore bool `json:"has_more"`
}

// RunModuleRequest is the body of POST /v1/modules/{id}/run, a dry run of a module on a few inputs.
type RunModuleRequest struct {
	// Inputs are the texts to preprocess (preprocess modules).
	Inputs []string `json:"inputs,omitempty"`
	// TextPairs are optional second segments, one per input (preprocess modules).
	TextPairs []string `json:"text_pairs,omitempty"`
	// Model names a registered model whose vocab.txt and tokenizer settings configure a preprocess module.
	// Required for preprocess modules.
	Model string `json:"model,omitempty"`
	// MaxLength caps each row's token count (preprocess modules). Default: 128.
	MaxLength int `json:"max_length,omitempty"`
	// Labels are the true label indexes (evaluate modules).
	Labels []int `json:"labels,omitempty"`
	// Predictions are the predicted label indexes (evaluate modules).
	Predictions []int `json:"predictions,omitempty"`
	// Probabilities are optional per-row class probabilities (evaluate modules).
	Probabilities [][]float32 `json:"probabilities,omitempty"`
	// LabelNames names the label indexes (evaluate modules).
	LabelNames []string `json:"label_names,omitempty"`
}

// Model is a model folder registered with the server: imported, or produced by a fine-tuning job.
type Model struct {
	// ID names the model in job and predict requests. Fine-tuned models are named
	// "ft:<base>:<suffix>:<job id>" ("ft:<base>:<job id>" without a suffix).
	ID string `json:"id"`
	// Object is always "model".
	Object string `json:"object"`
	// CreatedAt is the registration time, in Unix seconds.
	CreatedAt int64 `json:"created_at"`
	// OwnedBy is "user" for imported models and "whet" for fine-tuned ones.
	OwnedBy string `json:"owned_by"`
	// Source is "path" (imported with from_path), "upload" (an uploaded archive), "fine-tune" or "merge" (a LoRA
	// adapter folded into its base, POST /v1/models/{id}/merge).
	Source string `json:"source"`
	// Labels lists the classification labels from config.json id2label, in id order (may be empty).
	Labels []string `json:"labels"`
	// Architecture is config.json's first "architectures" entry, if any.
	Architecture string `json:"architecture,omitempty"`
	// BaseModel is the model a fine-tuned or merged model was trained from. For a LoRA adapter (Architecture
	// "PeftModelForSequenceClassification") it is the registered model the adapter is served on.
	BaseModel string `json:"base_model,omitempty"`
	// JobID is the job that produced a fine-tuned model.
	JobID string `json:"job_id,omitempty"`
}

// ModelList is the body of GET /v1/models.
type ModelList struct {
	// Object is always "list".
	Object string `json:"object"`
	// Data holds the models, newest first.
	Data []Model `json:"data"`
	// HasMore is always false: the list is complete.
	HasMore bool `json:"has_more"`
}

// CreateModelRequest is the JSON body of POST /v1/models that registers a folder on the server's disk.
// (The other form of that route is a multipart upload of a .tar or .tar.gz archive; see Client.UploadModel.)
type CreateModelRequest struct {
	// FromPath is an absolute path, on the server's disk, to a HuggingFace model folder (config.json plus
	// model.safetensors or pytorch_model.bin), or to a peft LoRA adapter folder (adapter_config.json plus
	// adapter_model.safetensors; served on its base_model_name_or_path, architecture
	// "PeftModelForSequenceClassification"). The folder is copied into the server's data folder (symbolic links
	// leading out of it are refused). Needs an admin key, or a keyless server on loopback.
	FromPath string `json:"from_path"`
	// ID is the model id to register; letters, digits, '.', '_' and '-'. Default: the folder's base name.
	ID string `json:"id,omitempty"`
	// BaseModel, for a LoRA adapter folder, is the registered model it is served on. Default: adapter_config.json's
	// base_model_name_or_path when that is a registered model's id (else the request is refused, 400).
	BaseModel string `json:"base_model,omitempty"`
}

// UploadModelRequest is the multipart form of POST /v1/models that uploads a model archive.
type UploadModelRequest struct {
	// Filename is the archive's name (.tar, .tar.gz or .tgz).
	Filename string
	// Content is the archive, streamed: a model folder (config.json plus weights), or a peft LoRA adapter folder
	// (adapter_config.json plus adapter_model.safetensors), at its top or in its single top-level folder.
	Content io.Reader
	// ID is the model id to register. Default: Filename without its extension.
	ID string
	// BaseModel, for an adapter archive, is the registered model it is served on (form field "base_model").
	// Default: as CreateModelRequest.BaseModel.
	BaseModel string
}

// MergeModelRequest is the body of POST /v1/models/{id}/merge, which folds a LoRA adapter model into its base
// (peft's merge_and_unload) and registers the result as a plain model.
type MergeModelRequest struct {
	// ID is the merged model's id. Default: "<adapter id>-merged".
	ID string `json:"id,omitempty"`
}

// PredictRequest is the body of POST /v1/models/{id}/predict.
type PredictRequest struct {
	// Inputs are the texts to classify.
	Inputs []string `json:"inputs"`
}

// Prediction is one classified input, in HuggingFace text-classification shape.
type Prediction struct {
	// Label is the most likely label.
	Label string `json:"label"`
	// Score is Label's probability.
	Score float64 `json:"score"`
	// Scores maps every label to its probability.
	Scores map[string]float64 `json:"scores"`
}

// PredictResponse is the body of POST /v1/models/{id}/predict: one Prediction per input, in order.
type PredictResponse []Prediction

// EvaluateRequest is the body of POST /v1/models/{id}/evaluate: the model's metrics on an uploaded, labeled file
// (`whet eval` run by the server). The response is the metrics document (accuracy, macro_f1, per_class,
// confusion_matrix, ...).
type EvaluateRequest struct {
	// File is the id of an uploaded file whose labels are all among the model's labels. Required.
	File string `json:"file"`
}

// Hyperparameters configures a fine-tuning job. In a request, a zero value (or nil pointer) means the default;
// in a Job, every field holds the effective value. The defaults are HuggingFace Trainer's except batch size and
// weight decay (the server's internal/runspec holds them; `whet train` uses the same).
type Hyperparameters struct {
	// NEpochs is the number of passes over the training data. Default: 3.
	NEpochs int `json:"n_epochs,omitempty"`
	// BatchSize is the number of rows per optimizer step. Default: 32.
	BatchSize int `json:"batch_size,omitempty"`
	// LearningRate is AdamW's peak learning rate. Default: 5e-5.
	LearningRate float64 `json:"learning_rate,omitempty"`
	// MaxSeqLength caps each row's token count; at most the model's max_position_embeddings. Default: 128, or
	// max_position_embeddings if less.
	MaxSeqLength int `json:"max_seq_length,omitempty"`
	// WarmupRatio is the fraction of steps spent warming the learning rate up, in [0,1). Default: 0.
	WarmupRatio *float64 `json:"warmup_ratio,omitempty"`
	// WeightDecay is AdamW's decoupled weight decay, in [0,1]. Default: 0.01.
	WeightDecay *float64 `json:"weight_decay,omitempty"`
	// Seed seeds initialisation, shuffling and the automatic validation split; 0 is a seed. Default: 42.
	Seed *int64 `json:"seed,omitempty"`
	// MaxSteps stops training after this many optimizer steps (0 = no limit). Default: 0.
	MaxSteps int `json:"max_steps,omitempty"`
	// GradAccum accumulates gradients over this many batches per step. Default: 1.
	GradAccum int `json:"grad_accum,omitempty"`
	// MaxGradNorm clips the gradient norm. Default: 1.
	MaxGradNorm float64 `json:"max_grad_norm,omitempty"`
	// EvalEvery evaluates every this many steps (0 = once per epoch). Default: 0.
	EvalEvery int `json:"eval_every,omitempty"`
	// EarlyStoppingPatience stops after this many evaluations without improvement (0 = never). Default: 0.
	EarlyStoppingPatience int `json:"early_stopping_patience,omitempty"`
	// MetricForBestModel names the metric that picks the best checkpoint. Default: "accuracy".
	MetricForBestModel string `json:"metric_for_best_model,omitempty"`
	// ClassWeights is "auto" (inverse class frequency) or "none". Default: "none".
	ClassWeights string `json:"class_weights,omitempty"`
	// Method is "full" (every weight trained) or "lora": a peft LoRA adapter of the base model (the fine-tuned
	// model is then an adapter folder served on its base). Default: "full".
	Method string `json:"method,omitempty"`
	// LoraR is the LoRA rank (method lora). Default: 8.
	LoraR int `json:"lora_r,omitempty"`
	// LoraAlpha scales the update by lora_alpha/lora_r. Default: 8.
	LoraAlpha float64 `json:"lora_alpha,omitempty"`
	// LoraDropout is the dropout on the adapter's input while training. Default: 0.
	LoraDropout float64 `json:"lora_dropout,omitempty"`
	// LoraTargetModules are comma-separated module names or suffixes (peft target_modules). Default: "query,value".
	LoraTargetModules string `json:"lora_target_modules,omitempty"`
	// LoraModulesToSave are comma-separated modules trained in full: classifier (always) and pooler. Default:
	// "classifier".
	LoraModulesToSave string `json:"lora_modules_to_save,omitempty"`
	// Precision is the forward pass's arithmetic: "auto" (bf16 on a GPU, fp32 on the CPU), "fp32", "bf16", or
	// "fp16" (GPU only, with dynamic loss scaling). Weights and the fine-tuned model stay float32. Default: "auto".
	Precision string `json:"precision,omitempty"`
}

// CreateJobRequest is the body of POST /v1/fine_tuning/jobs.
type CreateJobRequest struct {
	// Model is the id of the registered model to fine-tune. Required.
	Model string `json:"model"`
	// TrainingFile is the id of an uploaded file. Required.
	TrainingFile string `json:"training_file"`
	// ValidationFile is the id of an uploaded file. Default: a seeded, stratified 10% split of TrainingFile.
	ValidationFile string `json:"validation_file,omitempty"`
	// PreprocessModule is the id of an uploaded preprocess module. Default: the built-in bert-wordpiece.
	PreprocessModule string `json:"preprocess_module,omitempty"`
	// EvaluateModule is the id of an uploaded evaluate module. Default: the built-in classification-metrics.
	EvaluateModule string `json:"evaluate_module,omitempty"`
	// Hyperparameters tunes training; zero fields take their defaults.
	Hyperparameters Hyperparameters `json:"hyperparameters"`
	// Suffix goes into the fine-tuned model's id; up to 40 of letters, digits, '.', '_' and '-'.
	Suffix string `json:"suffix,omitempty"`
	// MaxAttempts is how many times the job may start running, 1 to 100: a trainer that dies by a signal (the OOM
	// killer's SIGKILL, a crash in native code) or with the server resumes from its last checkpoint while attempts
	// remain. Default (0): the server's (3).
	MaxAttempts int `json:"max_attempts,omitempty"`
}

// JobError says why a job failed.
type JobError struct {
	// Code is a stable reason: "invalid_file", "training_failed", "interrupted", "model_invalid", "trainer_crashed"
	// (the trainer died by a signal on its last attempt).
	Code string `json:"code"`
	// Message says what went wrong, with the trainer's own last error line where there is one.
	Message string `json:"message"`
	// Param names the request field at fault, if any.
	Param *string `json:"param"`
}

// Job is a fine-tuning job.
type Job struct {
	// ID names the job ("ftjob-...").
	ID string `json:"id"`
	// Object is always "fine_tuning.job".
	Object string `json:"object"`
	// CreatedAt is the creation time, in Unix seconds.
	CreatedAt int64 `json:"created_at"`
	// StartedAt is when the job last started running, in Unix seconds (nil before).
	StartedAt *int64 `json:"started_at"`
	// FinishedAt is when the job reached a terminal status, in Unix seconds (nil before).
	FinishedAt *int64 `json:"finished_at"`
	// Model is the base model id.
	Model string `json:"model"`
	// TrainingFile is the training file id.
	TrainingFile string `json:"training_file"`
	// ValidationFile is the validation file id ("" when split automatically).
	ValidationFile string `json:"validation_file,omitempty"`
	// PreprocessModule is the preprocess module id ("" = built-in).
	PreprocessModule string `json:"preprocess_module,omitempty"`
	// EvaluateModule is the evaluate module id ("" = built-in).
	EvaluateModule string `json:"evaluate_module,omitempty"`
	// Hyperparameters holds the effective values.
	Hyperparameters Hyperparameters `json:"hyperparameters"`
	// Suffix is the requested model-id suffix.
	Suffix string `json:"suffix,omitempty"`
	// Status is one of the Job* constants.
	Status string `json:"status"`
	// FineTunedModel is the registered model id once the job succeeded (nil before).
	FineTunedModel *string `json:"fine_tuned_model"`
	// Error says why the job failed (nil unless failed).
	Error *JobError `json:"error"`
	// TrainedSteps is the last optimizer step reported.
	TrainedSteps int `json:"trained_steps"`
	// Metrics is the final metrics document once the job succeeded.
	Metrics json.RawMessage `json:"metrics,omitempty"`
	// Attempts counts how many times the job started running (more than one after a restart resumed it).
	Attempts int `json:"attempts"`
	// MaxAttempts is how many times it may start running (CreateJobRequest.MaxAttempts, resolved).
	MaxAttempts int `json:"max_attempts"`
	// Worker is the remote worker running (or that last ran) the job; nil when the server runs it itself.
	Worker *string `json:"worker"`
}

// JobList is the body of GET /v1/fine_tuning/jobs.
type JobList struct {
	// Object is always "list".
	Object string `json:"object"`
	// Data holds the jobs, newest first.
	Data []Job `json:"data"`
	// HasMore reports that more jobs exist past the limit.
	HasMore bool `json:"has_more"`
}

// EventData carries the structured part of a JobEvent; which fields are set depends on the event type.
type EventData struct {
	// Status is the new job status (status events).
	Status string `json:"status,omitempty"`
	// Step is the optimizer step (metrics, eval and checkpoint events).
	Step int `json:"step,omitempty"`
	// TotalSteps is the planned number of steps (metrics events).
	TotalSteps int `json:"total_steps,omitempty"`
	// Epoch is the fractional epoch (metrics, eval and checkpoint events).
	Epoch float64 `json:"epoch,omitempty"`
	// Loss is the training loss (metrics events).
	Loss *float64 `json:"loss,omitempty"`
	// LearningRate is the current learning rate (metrics events).
	LearningRate *float64 `json:"learning_rate,omitempty"`
	// SamplesPerSecond is the training throughput (metrics events).
	SamplesPerSecond *float64 `json:"samples_per_second,omitempty"`
	// Metrics is the metrics document (eval and checkpoint events).
	Metrics json.RawMessage `json:"metrics,omitempty"`
	// Checkpoint is the checkpoint id (checkpoint events).
	Checkpoint string `json:"checkpoint,omitempty"`
}

// JobEvent is one entry of a job's event log.
type JobEvent struct {
	// ID is the event's sequence number: increasing, unique across jobs. Pass it as "after" to resume.
	ID int64 `json:"id"`
	// Object is always "fine_tuning.job.event".
	Object string `json:"object"`
	// CreatedAt is the event time, in Unix seconds.
	CreatedAt int64 `json:"created_at"`
	// Level is "info", "warn" or "error".
	Level string `json:"level"`
	// Message is a human-readable line.
	Message string `json:"message"`
	// Type is one of the Event* constants.
	Type string `json:"type"`
	// Data holds the structured part (nil for plain messages).
	Data *EventData `json:"data,omitempty"`
}

// JobEventList is the body of GET /v1/fine_tuning/jobs/{id}/events without stream=true.
type JobEventList struct {
	// Object is always "list".
	Object string `json:"object"`
	// Data holds the events, oldest first.
	Data []JobEvent `json:"data"`
	// HasMore reports that more events exist past the limit; ask again with after = the last ID.
	HasMore bool `json:"has_more"`
}

// ListEventsRequest selects a page of job events.
type ListEventsRequest struct {
	// After returns only events with a larger ID. Default: 0 (from the first).
	After int64
	// Limit caps the number of events returned, at most 1000. Default: 100.
	Limit int
}

// ListJobsRequest selects a page of jobs.
type ListJobsRequest struct {
	// After returns only jobs created before this job id (pagination, newest first). Default: "" (the newest).
	After string
	// Limit caps the number of jobs returned, at most 1000. Default: 20.
	Limit int
}

// Checkpoint is a checkpoint saved by a running job.
type Checkpoint struct {
	// ID names the checkpoint ("ftckpt-...").
	ID string `json:"id"`
	// Object is always "fine_tuning.job.checkpoint".
	Object string `json:"object"`
	// CreatedAt is when the checkpoint was reported, in Unix seconds.
	CreatedAt int64 `json:"created_at"`
	// FineTuningJobID is the job that saved it.
	FineTuningJobID string `json:"fine_tuning_job_id"`
	// StepNumber is the optimizer step it was saved at.
	StepNumber int `json:"step_number"`
	// Epoch is the fractional epoch it was saved at.
	Epoch float64 `json:"epoch"`
	// Metrics is the metrics document of the evaluation at that step, if any.
	Metrics json.RawMessage `json:"metrics,omitempty"`
	// Best reports that this checkpoint had the best metric so far when saved.
	Best bool `json:"best"`
}

// CheckpointList is the body of GET /v1/fine_tuning/jobs/{id}/checkpoints.
type CheckpointList struct {
	// Object is always "list".
	Object string `json:"object"`
	// Data holds the checkpoints, newest first.
	Data []Checkpoint `json:"data"`
	// HasMore is always false: the list is complete.
	HasMore bool `json:"has_more"`
}

// DeleteJobRequest is DeleteJob's options.
type DeleteJobRequest struct {
	// DeleteModel also deletes the job's fine-tuned model. Default: false (the model stays usable).
	DeleteModel bool
}

// DeleteResponse is the body of the DELETE routes.
type DeleteResponse struct {
	// ID is the deleted object's id.
	ID string `json:"id"`
	// Object is the deleted object's type ("file", "module", "model", "fine_tuning.job").
	Object string `json:"object"`
	// Deleted is always true.
	Deleted bool `json:"deleted"`
}

// ExportModelRequest selects what GET /v1/models/{id}/export returns.
type ExportModelRequest struct {
	// Format is the export format. Default (""): "onnx", the only one.
	Format string
	// Quantize "int8" adds onnx/model_quantized.onnx. Default: none (fp32 only).
	Quantize string
}

// Worker statuses (GET /v1/workers).
const (
	// WorkerActive: reporting and taking jobs.
	WorkerActive = "active"
	// WorkerDraining: finishing its jobs, taking no new ones (whet workers drain).
	WorkerDraining = "draining"
	// WorkerGone: silent for longer than the cluster's ack wait; its jobs went to other workers.
	WorkerGone = "gone"
	// ObjectWorker is the object field of a Worker.
	ObjectWorker = "worker"
)

// Worker is a remote training worker of a cluster server (`whet worker`).
type Worker struct {
	// ID names the worker process ("wrk-...").
	ID string `json:"id"`
	// Object is always "worker".
	Object string `json:"object"`
	// Host is the machine it runs on.
	Host string `json:"host"`
	// Status is one of WorkerActive, WorkerDraining, WorkerGone.
	Status string `json:"status"`
	// Jobs lists the ids of the jobs it is running.
	Jobs []string `json:"jobs"`
	// Slots is how many jobs it trains at once.
	Slots int `json:"slots"`
	// LastSeen is its last heartbeat, in Unix seconds.
	LastSeen int64 `json:"last_seen"`
}

// WorkerList is the body of GET /v1/workers.
type WorkerList struct {
	Object string   `json:"object"`
	Data   []Worker `json:"data"`
}

// WorkerCredentials is the body of POST /v1/workers/tokens: what `whet worker --credentials FILE` reads.
type WorkerCredentials struct {
	// User and Password authenticate the worker to the cluster's NATS server; the password is shown only once.
	User     string `json:"user"`
	Password string `json:"password"`
	// NATS lists the NATS URLs of the server, for the worker's --nats.
	NATS []string `json:"nats,omitempty"`
	// CA is the PEM certificate of the CA that signed the NATS server's TLS certificate (`whet serve --nats-tls`),
	// which the worker trusts; empty without TLS.
	CA string `json:"ca,omitempty"`
}

// CreateWorkerTokenRequest is the body of POST /v1/workers/tokens.
type CreateWorkerTokenRequest struct {
	// Name labels the credentials (for example the machine they are for). Default: "worker".
	Name string `json:"name,omitempty"`
}
