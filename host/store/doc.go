// Package store persists whet's server state: an embedded SQLite database (pure Go, modernc.org/sqlite; WAL mode,
// busy timeout, a migrations table) for files, modules, models, jobs, events, checkpoints and API keys, and the
// artifacts themselves (datasets, .wasm modules, model folders) on disk under the data folder.
//
// store imports sdk for the wire types it returns and nothing else of whet's: not host/jobs (which owns the
// meaning of job states), not native.
//
// # Layout of the data folder
//
//	whet.db                 SQLite database (plus -wal and -shm files)
//	whet.lock               held (flock) by the one server using the folder
//	files/<sha256>.<ext>    uploaded datasets, content-addressed
//	files/<id>.rows.jsonl   each file's checked rows, which its jobs train on (dataset.FormatRows)
//	modules/<sha256>.wasm   uploaded modules, content-addressed
//	models/<id>-<rand>/     extracted model archives
//	jobs/<job id>/          a job's spec, trainer log and training output
//	tmp/                    staging; emptied at Open
//
// Every artifact is written under tmp/ first and renamed into place, so a crash never leaves a half-written one.
//
// # Jobs
//
// Job status changes go through Transition, a single conditional UPDATE ... WHERE id=? AND status=?: two callers
// racing on the same job cannot both win. The allowed transitions are host/jobs' business.
//
//	s, err := store.Open(ctx, dir, store.Options{Exclusive: true})
//	defer s.Close(ctx)
//	job, err := s.Transition(ctx, id, "queued", "running", store.JobChange{})
package store
