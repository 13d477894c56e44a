//go:build linux

package jobs

import "syscall"

// sysProcAttr makes the trainer die with the server (PR_SET_PDEATHSIG), so a killed server never leaves an
// orphaned trainer writing into a job folder that the next server resumes.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
