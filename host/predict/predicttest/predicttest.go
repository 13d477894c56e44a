// Package predicttest runs a protocol.Model as a predict.Pool's worker inside the test process, so that the pool's
// side of the worker protocol is tested without cgo, libtorch or a subprocess.
package predicttest

import (
	"context"
	"io"

	"github.com/whetml/whet/host/predict"
	"github.com/whetml/whet/internal/protocol"
)

// InProcess returns a predict.StartFunc whose workers run the real worker loop (protocol.Serve) over m in this
// process, over pipes; the model folder it is given is not read.
func InProcess(m protocol.Model) predict.StartFunc {
	return func(string) (predict.Process, error) {
		inR, inW := io.Pipe()
		outR, outW := io.Pipe()
		ctx, cancel := context.WithCancel(context.Background())
		p := &pipeProcess{inW: inW, outR: outR, done: make(chan error, 1)}
		p.close = func() { cancel(); inR.Close(); outW.Close() }
		go func() {
			err := protocol.Serve(ctx, m, inR, outW)
			outW.Close()
			p.done <- err
		}()
		return p, nil
	}
}

// pipeProcess is one in-process worker: the pool writes requests to inW and reads answers from outR.
type pipeProcess struct {
	inW   *io.PipeWriter
	outR  *io.PipeReader
	done  chan error
	close func()
}

func (p *pipeProcess) Stdin() io.WriteCloser { return p.inW }
func (p *pipeProcess) Stdout() io.Reader     { return p.outR }
func (p *pipeProcess) Wait() error           { return <-p.done }
func (p *pipeProcess) Kill() error           { p.close(); return nil }
func (p *pipeProcess) Diagnostics() string   { return "in-process worker" }
