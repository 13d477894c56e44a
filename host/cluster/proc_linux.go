//go:build linux

package cluster

import "syscall"

// sysProcAttr makes the trainer die with its worker (PR_SET_PDEATHSIG): a killed worker leaves no trainer behind
// while its job moves to another worker.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
