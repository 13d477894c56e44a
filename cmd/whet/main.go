// Command whet fine-tunes BERT-family encoders natively on libtorch and serves them.
//
// Each subcommand lives in its own file: native work (model, train, predict, eval, pretrain, worker) in native_*.go,
// module tooling in module.go, the server and its clients in serve.go and client.go.
package main

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"runtime"
	"sort"
	"syscall"
)

// command is one subcommand: run gets the arguments after the subcommand name.
type command struct {
	summary string
	run     func(args []string) error
	// native marks commands that run libtorch (see execWithOMPPolicy).
	native bool
}

func commands() map[string]command {
	return map[string]command{
		"model":    {"create a model folder (model init)", runModel, true},
		"train":    {"fine-tune a model for text classification", runTrain, true},
		"predict":  {"classify texts with a model folder, or through a server with --server", runPredict, true},
		"eval":     {"evaluate a model folder on a labeled file", runEval, true},
		"pretrain": {"continued masked-language-model pretraining on unlabeled text", runPretrain, true},
		"worker":   {"pull fine-tuning jobs from a cluster server (worker --nats URL --credentials FILE)", runWorkerCmd, true},
		"workers":  {"list and drain a cluster server's workers, issue worker credentials", runWorkers, false},
		"module":   {"build, validate or run WASM preprocessing/evaluation modules", runModule, false},
		"serve":    {"run the HTTP API and the web page", runServe, false},
		"jobs":     {"create, list, follow and cancel fine-tuning jobs on a server", runJobs, false},
		"files":    {"upload and list dataset files on a server", runFiles, false},
		"modules":  {"upload and list WASM modules on a server", runModules, false},
		"models":   {"import and list models on a server", runModels, false},
		"keys":     {"create, list and revoke API keys of a server's data folder", runKeys, false},
		"vocab":    {"build a WordPiece vocab.txt from unlabeled text (vocab build)", runVocab, false},
		"export":   {"export a model folder as ONNX (fp32, int8) for onnxruntime and transformers.js", runExport, false},
	}
}

func usage() {
	fmt.Fprintln(os.Stderr, "usage: whet <command> [flags]\n\ncommands:")
	cmds := commands()
	names := make([]string, 0, len(cmds))
	for n := range cmds {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(os.Stderr, "  %-9s %s\n", n, cmds[n].summary)
	}
}

func main() {
	if len(os.Args) < 2 || os.Args[1] == "-h" || os.Args[1] == "--help" || os.Args[1] == "help" {
		usage()
		if len(os.Args) < 2 {
			os.Exit(2)
		}
		return
	}
	cmd, ok := commands()[os.Args[1]]
	if !ok {
		fmt.Fprintf(os.Stderr, "whet: unknown command %q\n", os.Args[1])
		usage()
		os.Exit(2)
	}
	if cmd.native {
		execWithOMPPolicy()
	}
	if err := cmd.run(os.Args[2:]); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return
		}
		var ec exitCoder
		code := 1
		if errors.As(err, &ec) {
			code = ec.ExitCode()
		}
		var r reporter
		if !errors.As(err, &r) || !r.Reported() {
			fmt.Fprintf(os.Stderr, "whet %s: %v\n", os.Args[1], err)
		}
		os.Exit(code)
	}
}

// execWithOMPPolicy re-executes a native command with OMP_WAIT_POLICY=PASSIVE when the variable is unset.
//
// libtorch's OpenMP workers spin while they wait for work by default. When anything else wants the same cores (a
// second job, a predict worker, the sandbox, a compiler) the spinning threads hold them, and a training step was
// measured 5-15x slower on 2 cores; passive waiting keeps steps fast under contention. libgomp reads the variable
// once, when libtorch is loaded, before main runs, hence the exec. Set OMP_WAIT_POLICY yourself to choose otherwise.
func execWithOMPPolicy() {
	if runtime.GOOS != "linux" || os.Getenv("OMP_WAIT_POLICY") != "" {
		return
	}
	exe, err := os.Executable()
	if err != nil {
		return
	}
	// On failure Exec returns and the command runs with libgomp's default policy.
	_ = syscall.Exec(exe, os.Args, append(os.Environ(), "OMP_WAIT_POLICY=PASSIVE"))
}

// exitCoder lets a command choose its exit status (130 after an interrupt).
type exitCoder interface{ ExitCode() int }

// reporter marks an error the command already reported in its own format (a protocol error event).
type reporter interface{ Reported() bool }
