package cluster

import (
	"context"
	"errors"

	"github.com/nats-io/nats.go/jetstream"
)

// Attempts returns how many attempts the coordinator keeps in memory (tests check none leak).
func Attempts(c *Coordinator) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.runs)
}

// Objects lists the names in the coordinator's artifact bucket.
func Objects(ctx context.Context, c *Coordinator) ([]string, error) {
	infos, err := c.obs.List(ctx)
	if errors.Is(err, jetstream.ErrNoObjectsFound) {
		return nil, nil
	}
	var names []string
	for _, i := range infos {
		names = append(names, i.Name)
	}
	return names, err
}
