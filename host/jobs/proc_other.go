//go:build !linux

package jobs

import "syscall"

// sysProcAttr has no parent-death signal outside Linux: a killed server may leave its trainer running.
func sysProcAttr() *syscall.SysProcAttr { return nil }
