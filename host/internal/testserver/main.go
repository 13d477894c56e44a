// Command testserver runs host/server.Run like `whet serve`, with the trainer and worker binary given by --bin,
// for tests that must kill a real server process. It prints "listening http://ADDR" on stdout once ready.
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"syscall"

	"github.com/whetml/whet/host/api"
	"github.com/whetml/whet/host/server"
)

func main() {
	data := flag.String("data", "", "data folder")
	addr := flag.String("addr", "127.0.0.1:0", "listen address")
	bin := flag.String("bin", "", "trainer and worker binary")
	key := flag.String("api-key", "", "API key")
	readTimeout := flag.Duration("read-timeout", 0, "api.Config.ReadTimeout (0: its default)")
	maxConns := flag.Int("max-conns", 0, "api.Config.MaxConns (0: server.Run's default)")
	moduleQueue := flag.Int("module-queue", 0, "api.Config.ModuleRunQueue (0: its default)")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	var keys []string
	if *key != "" {
		keys = []string{*key}
	}
	err := server.Run(ctx, server.Config{Addr: *addr, DataDir: *data, Bin: *bin, APIKeys: keys,
		Logger: slog.New(slog.NewJSONHandler(os.Stderr, nil)),
		API: func(c *api.Config) {
			c.ReadTimeout = *readTimeout
			c.ModuleRunQueue = *moduleQueue
			if *maxConns > 0 {
				c.MaxConns = *maxConns
			}
		},
		Ready: func(a net.Addr) { fmt.Printf("listening http://%s\n", a) }})
	if err != nil {
		fmt.Fprintln(os.Stderr, "testserver:", err)
		os.Exit(1)
	}
}
