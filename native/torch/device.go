package torch

import (
	"fmt"
	"strconv"
	"strings"
)

// This file needs no cgo: configurations are checked where libtorch is absent.

// parseDeviceName checks a device name's syntax: cpu, cuda or cuda:N.
func parseDeviceName(s string) (cuda bool, index int, err error) {
	name := strings.ToLower(strings.TrimSpace(s))
	switch {
	case name == "cpu":
		return false, 0, nil
	case name == "cuda":
		return true, 0, nil
	case strings.HasPrefix(name, "cuda:"):
		n, err := strconv.Atoi(name[len("cuda:"):])
		if err == nil && n >= 0 {
			return true, n, nil
		}
	}
	return false, 0, fmt.Errorf("device %q: want auto, cpu, cuda or cuda:N", s)
}

// CheckDeviceName reports whether s is a device name ParseDevice accepts, without looking for the device: for
// validating a configuration on a machine that will not run it.
func CheckDeviceName(s string) error {
	if s == "" || strings.EqualFold(s, "auto") {
		return nil
	}
	_, _, err := parseDeviceName(s)
	return err
}
