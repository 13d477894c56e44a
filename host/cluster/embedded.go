package cluster

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"

	"github.com/whetml/whet/host/store"
)

// EmbeddedConfig configures an embedded NATS server with JetStream.
type EmbeddedConfig struct {
	// Addr is the client address, host:port ("127.0.0.1:0" picks a free port). Required.
	Addr string
	// StoreDir holds JetStream's files. Required.
	StoreDir string
	// Store checks worker credentials (made by Store.CreateWorkerCredential). Required.
	Store *store.Store
	// Name names this NATS server (unique within a NATS cluster). Default: "whet-" + the port.
	Name string
	// ClusterName, ClusterAddr and Routes join this server to other embedded servers as one NATS cluster (for
	// replicated streams); all empty: a single server.
	ClusterName, ClusterAddr string
	Routes                   []string
	// Logger receives NATS warnings. Default: discarded.
	Logger *slog.Logger
	// ServerPassword is the whet server's NATS password; the servers of one NATS cluster share it. Default: random.
	ServerPassword string
	// TLS, when set, makes clients connect over TLS with this server certificate (ServerTLS); workers then need
	// the CA that signed it (Config.CA puts it into their credentials). Not with ClusterName. Default: no TLS.
	TLS *tls.Config
}

// Embedded is a running embedded NATS server; the whet server connects to it in-process.
type Embedded struct {
	ns       *server.Server
	password string
}

// StartEmbedded starts a NATS server with JetStream in this process and waits until it accepts connections.
// Clients authenticate either as the whet server (Connect) or with worker credentials; workers get the worker
// permissions (workerPermissions), anything else is refused.
func StartEmbedded(ctx context.Context, cfg EmbeddedConfig) (*Embedded, error) {
	host, portStr, err := net.SplitHostPort(cfg.Addr)
	if err != nil {
		return nil, fmt.Errorf("cluster: address %q: want host:port: %w", cfg.Addr, err)
	}
	port, err := strconv.Atoi(portStr)
	if err != nil {
		return nil, fmt.Errorf("cluster: address %q: bad port", cfg.Addr)
	}
	if port == 0 {
		port = server.RANDOM_PORT
	}
	e := &Embedded{password: cfg.ServerPassword}
	if e.password == "" {
		pw := make([]byte, 24)
		if _, err := rand.Read(pw); err != nil {
			return nil, err
		}
		e.password = hex.EncodeToString(pw)
	}
	opts := &server.Options{Host: host, Port: port, JetStream: true, StoreDir: cfg.StoreDir, NoSigs: true,
		ServerName: cfg.Name, DisableJetStreamBanner: true, MaxPayload: 1 << 20,
		CustomClientAuthentication: &authenticator{st: cfg.Store, serverPassword: e.password}}
	if cfg.TLS != nil {
		if cfg.ClusterName != "" {
			return nil, errors.New("cluster: TLS on an embedded NATS cluster is not supported: use an external NATS cluster (--nats)")
		}
		opts.TLS, opts.TLSConfig, opts.TLSTimeout = true, cfg.TLS, 5
	}
	if opts.ServerName == "" {
		opts.ServerName = "whet-" + portStr
	}
	if cfg.ClusterName != "" {
		ch, cp, err := net.SplitHostPort(cfg.ClusterAddr)
		if err != nil {
			return nil, fmt.Errorf("cluster: cluster address %q: %w", cfg.ClusterAddr, err)
		}
		opts.Cluster.Name, opts.Cluster.Host = cfg.ClusterName, ch
		opts.Cluster.Port, _ = strconv.Atoi(cp)
		for _, r := range cfg.Routes {
			u, err := url.Parse(r)
			if err != nil {
				return nil, fmt.Errorf("cluster: route %q: %w", r, err)
			}
			opts.Routes = append(opts.Routes, u)
		}
	}
	ns, err := server.NewServer(opts)
	if err != nil {
		return nil, fmt.Errorf("cluster: embedded NATS: %w", err)
	}
	if cfg.Logger != nil {
		ns.SetLoggerV2(&natsLogger{cfg.Logger}, false, false, false)
	}
	go ns.Start()
	deadline := 30 * time.Second
	if d, ok := ctx.Deadline(); ok {
		deadline = time.Until(d)
	}
	if !ns.ReadyForConnections(deadline) {
		ns.Shutdown()
		return nil, fmt.Errorf("cluster: embedded NATS on %s did not start within %s", cfg.Addr, deadline)
	}
	e.ns = ns
	return e, nil
}

// URL returns the address workers connect to (nats://host:port).
func (e *Embedded) URL() string { return e.ns.ClientURL() }

// Connect returns a connection with the server's permissions: in-process, or to urls (the nodes of a NATS
// cluster sharing EmbeddedConfig.ServerPassword, so that it fails over between them).
func (e *Embedded) Connect(name string, urls ...string) (*nats.Conn, error) {
	opts := []nats.Option{nats.UserInfo(serverUser, e.password), nats.Name(name), nats.MaxReconnects(-1),
		nats.ReconnectWait(250 * time.Millisecond)}
	if len(urls) == 0 {
		return nats.Connect("", append(opts, nats.InProcessServer(e.ns))...)
	}
	return nats.Connect(strings.Join(urls, ","), opts...)
}

// JetStreamReady reports whether this node's JetStream is up (in a NATS cluster: a meta leader is elected).
func (e *Embedded) JetStreamReady() bool {
	return e.ns.JetStreamEnabled() && (!e.ns.JetStreamIsClustered() || e.ns.JetStreamIsCurrent())
}

// Shutdown stops the NATS server (JetStream state stays in StoreDir).
func (e *Embedded) Shutdown() {
	e.ns.Shutdown()
	e.ns.WaitForShutdown()
}

// authenticator admits the whet server (a random password per process) and holders of worker credentials.
type authenticator struct {
	st             *store.Store
	serverPassword string
}

// Check implements server.Authentication.
func (a *authenticator) Check(c server.ClientAuthentication) bool {
	o := c.GetOpts()
	if o == nil {
		return false
	}
	if o.Username == serverUser {
		if o.Password != a.serverPassword {
			return false
		}
		c.RegisterUser(&server.User{Username: serverUser})
		return true
	}
	if !strings.HasPrefix(o.Username, "wcred-") {
		return false
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	ok, err := a.st.CheckWorkerCredential(ctx, o.Username, o.Password)
	if err != nil || !ok {
		return false
	}
	c.RegisterUser(&server.User{Username: o.Username, Permissions: workerPermissions()})
	return true
}

// workerPermissions scopes a worker: it talks to the server only through whet.srv.> requests, pulls from the
// job consumer, reads and writes the artifact bucket, and cannot publish jobs, manage streams or listen to
// other workers' reports.
func workerPermissions() *server.Permissions {
	obj := "OBJ_" + Bucket
	return &server.Permissions{
		Publish: &server.SubjectPermission{
			Allow: []string{
				"whet.srv.>",
				"$JS.API.INFO",
				"$JS.API.STREAM.INFO." + StreamJobs,
				"$JS.API.CONSUMER.INFO." + StreamJobs + "." + ConsumerWorkers,
				"$JS.API.CONSUMER.MSG.NEXT." + StreamJobs + "." + ConsumerWorkers,
				"$JS.ACK." + StreamJobs + "." + ConsumerWorkers + ".>",
				"$JS.API.STREAM.INFO." + obj,
				"$JS.API.STREAM.MSG.GET." + obj,
				"$JS.API.DIRECT.GET." + obj + ".>",
				"$JS.API.DIRECT.GET." + obj,
				"$JS.API.CONSUMER.CREATE." + obj + ".>",
				"$JS.API.CONSUMER.CREATE." + obj,
				"$JS.API.CONSUMER.DELETE." + obj + ".>",
				"$JS.API.STREAM.PURGE." + obj,
				"$JS.FC.>",
				"$O." + Bucket + ".>",
			},
		},
		Subscribe: &server.SubjectPermission{Allow: []string{"_INBOX.>", "whet.predict.>"}},
		// Replies (predict results) go only to the reply subjects of requests the worker received.
		Response: &server.ResponsePermission{MaxMsgs: 1, Expires: 10 * time.Minute},
	}
}

type natsLogger struct{ log *slog.Logger }

func (l *natsLogger) Noticef(format string, v ...any) {
	l.log.Debug("nats: " + fmt.Sprintf(format, v...))
}
func (l *natsLogger) Warnf(format string, v ...any) { l.log.Warn("nats: " + fmt.Sprintf(format, v...)) }
func (l *natsLogger) Fatalf(format string, v ...any) {
	l.log.Error("nats: " + fmt.Sprintf(format, v...))
}
func (l *natsLogger) Errorf(format string, v ...any) {
	l.log.Error("nats: " + fmt.Sprintf(format, v...))
}
func (l *natsLogger) Debugf(format string, v ...any) {}
func (l *natsLogger) Tracef(format string, v ...any) {}
