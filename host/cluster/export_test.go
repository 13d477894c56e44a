package cluster

// Attempts returns how many attempts the coordinator keeps in memory (tests check none leak).
func Attempts(c *Coordinator) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.runs)
}
