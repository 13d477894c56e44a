// Package jobs is whet's persistent fine-tuning queue: it validates job requests, prepares data files, runs one
// training subprocess per job (`whet train ... --progress json`, never native code in the server's own process),
// records its events and checkpoints, and moves jobs through the states of state.go.
//
// jobs imports host/store, host/modeldir, dataset and sdk; never native/ or gotch. Files: config.go (Config,
// defaults), create.go (request checks), queue.go (the Queue, cancel, stop), scheduler.go, prepare.go (data),
// runner.go (a trainer subprocess), rescue.go and crash.go (restarts), remote.go (remote workers), hub.go (event
// subscriptions).
//
// # Lifecycle
//
// A created job starts in validating_files: the scheduler checks its files and queues it (the trainer holds out the
// seeded, stratified validation split when no validation file was given). Up to Config.Concurrency jobs run at once, oldest first;
// each runs `whet train` with the job's hyperparameters, and the NDJSON lines on its stderr become events,
// checkpoints and heartbeats. On exit the job succeeds (its model is registered in the same transaction), fails
// with the trainer's last error, or is cancelled.
//
//	q, err := jobs.New(jobs.Config{Store: st, Bin: "/usr/local/bin/whet", Logger: log})
//	err = q.Start(ctx)
//	defer q.StopAndCancel(ctx)
//	job, err := q.Create(ctx, sdk.CreateJobRequest{Model: "tiny", TrainingFile: "file-..."})
//
// # Crashes and restarts
//
// Cancel interrupts the worker with SIGINT: it stops within a step, writes a checkpoint and exits; the job becomes
// cancelled. StopAndCancel (server shutdown) interrupts running workers the same way but requeues their jobs, to
// resume from the checkpoint at the next start. The worker dies with the server (PR_SET_PDEATHSIG), so a server
// killed outright leaves jobs marked running with no process; the rescuer, run at Start and every
// Config.RescueInterval, requeues such jobs to resume from their last checkpoint, or fails them with a reason once
// its max_attempts (the request's, else Config.MaxAttempts) are spent. A trainer killed by a signal is retried the
// same way. Each attempt holds a token; a stale attempt's end changes nothing. No job stays running forever.
package jobs
