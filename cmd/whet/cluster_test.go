package main

import (
	"fmt"
	"strings"
	"testing"
)

func TestWorkerGPUFlags(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string // devices, or a part of the error
	}{
		{[]string{"--gpus", "0,1"}, "[cuda:0 cuda:1]"},
		{[]string{"--gpus", " 3 "}, "[cuda:3]"},
		{[]string{"--gpus", "0,0"}, `distinct GPU numbers`},
		{[]string{"--gpus", "a"}, `bad: "a"`},
		{[]string{"--gpus", "-1"}, `bad: "-1"`},
	} {
		devs, err := gpuDevices(tc.args[1])
		got := fmt.Sprint(devs)
		if err != nil {
			got = err.Error()
		}
		if !strings.Contains(got, tc.want) {
			t.Errorf("%v: %s, want %s", tc.args, got, tc.want)
		}
	}
	err := runClusterWorker([]string{"--nats", "nats://127.0.0.1:1", "--credentials", "x.json", "--gpus", "0,1", "--slots", "2"})
	if err == nil || !strings.Contains(err.Error(), "--gpus and --slots: give one") {
		t.Errorf("--gpus with --slots: %v", err)
	}
}
