//go:build linux

package predict

import "syscall"

// sysProcAttr makes a worker die with the server (PR_SET_PDEATHSIG).
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
