package jobs

// KillForTest plays a server crash: the scheduler stops, trainers are killed, and their jobs are left as they
// are in the store (running), as after a SIGKILL of the server.
func KillForTest(q *Queue) {
	q.crashed.Store(true)
	q.stopLoop()
	q.mu.Lock()
	for _, r := range q.runs {
		r.kill()
	}
	q.mu.Unlock()
	q.wg.Wait()
}
