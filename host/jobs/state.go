package jobs

import "github.com/whetml/whet/sdk"

// State is a job's status; the values are the external contract of DESIGN.md.
type State string

const (
	// ValidatingFiles: the job was created; the scheduler checks its files and prepares the data handed to the
	// trainer. Moves to queued, or failed when a file is unusable, or cancelled.
	ValidatingFiles State = sdk.JobValidatingFiles
	// Queued: waiting for a free training slot (Config.Concurrency). The scheduler moves it to running, oldest
	// first; Cancel moves it to cancelled. Jobs interrupted by a shutdown or a crash come back here to resume.
	Queued State = sdk.JobQueued
	// Running: a `whet train` subprocess works on it and heartbeats. It leaves for succeeded, failed or
	// cancelled when the process exits, or back to queued when the server stops (or the rescuer finds it
	// orphaned) with attempts left.
	Running State = sdk.JobRunning
	// Succeeded: terminal. The fine-tuned model is registered; the job is kept forever.
	Succeeded State = sdk.JobSucceeded
	// Failed: terminal, with an error naming the reason; kept forever.
	Failed State = sdk.JobFailed
	// Cancelled: terminal; the last checkpoint stays on disk; kept forever.
	Cancelled State = sdk.JobCancelled
)

// States lists every state, in lifecycle order.
func States() []State {
	return []State{ValidatingFiles, Queued, Running, Succeeded, Failed, Cancelled}
}

// transitions is the whole state machine: from -> allowed destinations. Terminal states have none.
var transitions = map[State][]State{
	ValidatingFiles: {Queued, Failed, Cancelled},
	Queued:          {Running, Failed, Cancelled},
	Running:         {Succeeded, Failed, Cancelled, Queued},
}

// Terminal reports whether s never changes again.
func (s State) Terminal() bool { return len(transitions[s]) == 0 }

// CanTransition reports whether the state machine allows from -> to.
func CanTransition(from, to State) bool {
	for _, t := range transitions[from] {
		if t == to {
			return true
		}
	}
	return false
}
