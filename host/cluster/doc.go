// Package cluster runs whet's fine-tuning jobs on remote GPU workers over NATS JetStream.
//
// The server (`whet serve --cluster` embeds a NATS server with JetStream; `--nats URL` uses an external one) keeps
// SQLite as the source of truth. Its job queue hands each queued job to a Coordinator (a jobs.Dispatcher), which
// uploads the job's inputs (training/validation files, modules, each once however many jobs use it; the base model
// folder once per model) to the JetStream Object Store and publishes the job on a work-queue stream. A Worker
// (`whet worker`) pulls one job per free slot, claims it from the server (an attempt token recorded in SQLite),
// runs the real `whet train` subprocess, heartbeats (JetStream InProgress plus a request to the server), streams
// the trainer's progress lines back in order (step lines gathered for up to 250 ms per request, other lines at
// once), uploads each checkpoint and the final folder, and acks the job only once the server has stored the
// output. A worker that stops heartbeating loses its job after AckWait: JetStream redelivers it to
// another worker, which resumes from the last checkpoint; the dead attempt's token is refused from then on.
//
// Subjects (workers may publish only whet.srv.> and the JetStream API calls they need; only the server
// subscribes to whet.srv.>):
//
//	whet.jobs.dispatch   stream WHET_JOBS (work queue), durable pull consumer "workers"
//	whet.srv.register    worker -> server: hello, returns AckWait and the heartbeat interval
//	whet.srv.claim       worker -> server: start an attempt of a job
//	whet.srv.heartbeat   worker -> server: alive, its jobs; returns drain and jobs to stop
//	whet.srv.lines       worker -> server: trainer progress lines of an attempt, in order
//	whet.srv.finish      worker -> server: the trainer exited; the output is in the Object Store
//
// Requests over core NATS are delivered at most once: one in flight through a NATS node that goes away (a
// failover in a NATS cluster) is lost with its reply. A worker sends a request again when no answer came within
// two seconds (tryTimeout, doubling for slow handlers), and every handler is idempotent: a claim carries a
// claim id (sent again, after a server restart too, it gets the same attempt), progress lines a sequence number (lines the server has are
// skipped; the count is kept in the store, so a batch sent again after a server restart is skipped too), and a
// finish is recorded once. Object Store transfers and acks are tried again for a few seconds,
// the time JetStream takes to elect new leaders.
//
// With EmbeddedConfig.TLS (`whet serve --nats-tls cert,key,ca`) clients connect over TLS only; new worker
// credentials carry the CA, which RunWorker trusts. WorkerConfig.Devices (`whet worker --gpus 0,1`) gives a worker one
// slot per GPU, each trainer run with --device cuda:N. A worker keeps the model folders it downloads in
// DataDir/models, bounded by WorkerConfig.MaxModelCacheBytes (`whet worker --max-model-cache`): the least recently
// used folders that no trainer and no predict process uses are removed to make room.
//
// Object Store bucket "whet": models/<id>/<fingerprint of the folder>.tar, inputs/<fingerprint of the file>.tar
// (one per dataset or module, shared by the jobs using it, deleted when no queued or running job does),
// jobs/<id>/resume.tar, jobs/<id>/<token>/checkpoint-<step>.tar, jobs/<id>/<token>/out.tar.
package cluster
