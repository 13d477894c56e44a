package server

import (
	"errors"
	"log/slog"
	"net"
	"time"
)

// retryListener retries temporary Accept errors (out of file descriptors, a connection reset before it was
// accepted) with a growing pause, as net/http's Server does, instead of letting them stop the server.
type retryListener struct {
	net.Listener
	log *slog.Logger
}

// Accept implements net.Listener.
func (l retryListener) Accept() (net.Conn, error) {
	var delay time.Duration
	for {
		c, err := l.Listener.Accept()
		if err == nil || !temporary(err) {
			return c, err
		}
		if delay == 0 {
			l.log.Warn("accept failed; retrying until it works", "err", err)
		}
		delay = min(max(2*delay, 5*time.Millisecond), time.Second)
		time.Sleep(delay)
	}
}

// temporary reports whether an Accept error is worth retrying: EMFILE, ENFILE, ECONNABORTED, EAGAIN and the
// like (syscall.Errno.Temporary), the same test net/http makes.
func temporary(err error) bool {
	var ne interface{ Temporary() bool }
	return errors.As(err, &ne) && ne.Temporary()
}
