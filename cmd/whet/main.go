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
	"sort"
)

// command is one subcommand: run gets the arguments after the subcommand name.
type command struct {
	summary string
	run     func(args []string) error
}

func commands() map[string]command {
	return map[string]command{
		"model":    {"create a model folder (model init)", runModel},
		"train":    {"fine-tune a model for text classification", runTrain},
		"predict":  {"classify texts with a model folder, or through a server with --server", runPredict},
		"eval":     {"evaluate a model folder on a labeled file", runEval},
		"pretrain": {"continued masked-language-model pretraining on unlabeled text", runPretrain},
		"worker":   {"internal: long-lived native worker used by the server", runWorker},
		"module":   {"build, validate or run WASM preprocessing/evaluation modules", runModule},
		"serve":    {"run the HTTP API and the web page", runServe},
		"jobs":     {"create, list, follow and cancel fine-tuning jobs on a server", runJobs},
		"files":    {"upload and list dataset files on a server", runFiles},
		"modules":  {"upload and list WASM modules on a server", runModules},
		"models":   {"import and list models on a server", runModels},
		"keys":     {"create API keys for a server's data folder", runKeys},
		"vocab":    {"build a WordPiece vocab.txt from unlabeled text (vocab build)", runVocab},
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
	if err := cmd.run(os.Args[2:]); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return
		}
		var ec exitCoder
		code := 1
		if errors.As(err, &ec) {
			code = ec.ExitCode()
		}
		fmt.Fprintf(os.Stderr, "whet %s: %v\n", os.Args[1], err)
		os.Exit(code)
	}
}

// exitCoder lets a command choose its exit status (130 after an interrupt).
type exitCoder interface{ ExitCode() int }
