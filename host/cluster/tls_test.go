package cluster_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/whetml/whet/host/cluster"
	"github.com/whetml/whet/sdk"
)

// testCA makes a self-signed CA and a certificate it signs for 127.0.0.1, written as PEM files into dir.
func testCA(t *testing.T, dir string) (caFile, certFile, keyFile string) {
	t.Helper()
	newKey := func() *ecdsa.PrivateKey {
		k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		return k
	}
	write := func(name, typ string, der []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	caKey, key := newKey(), newKey()
	ca := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "whet test CA"}, IsCA: true,
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign}
	caDER, err := x509.CreateCertificate(rand.Reader, ca, ca, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	leaf := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "127.0.0.1"},
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	leafDER, err := x509.CreateCertificate(rand.Reader, leaf, ca, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return write("ca.pem", "CERTIFICATE", caDER), write("cert.pem", "CERTIFICATE", leafDER), write("key.pem", "EC PRIVATE KEY", keyDER)
}

// TestTLS: with a TLS certificate the embedded NATS server takes only TLS clients; new worker credentials carry
// the CA, so a worker trusts the server and trains a job; a worker that does not trust the CA is refused with an
// error saying what to give, and so is any client that does not trust it.
func TestTLS(t *testing.T) {
	caFile, certFile, keyFile := testCA(t, t.TempDir())
	srvTLS, err := cluster.ServerTLS(certFile, keyFile)
	if err != nil {
		t.Fatal(err)
	}
	caPEM, err := cluster.ReadCA(caFile)
	if err != nil {
		t.Fatal(err)
	}
	e := newEnvWith(t, func(ec *cluster.EmbeddedConfig, c *cluster.Config) { ec.TLS, c.CA = srvTLS, caPEM })
	if e.creds.CA != string(caPEM) {
		t.Fatalf("worker credentials carry CA %q, want the server's CA", e.creds.CA)
	}
	e.worker("wrk-tls", "FAKEWHET_STEPS=3")
	j := succeeded(t, e, e.create(sdk.Hyperparameters{}).ID)
	if j.Worker == nil || *j.Worker != "wrk-tls" {
		t.Fatalf("job ran on %v, want wrk-tls", j.Worker)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	untrusting := e.creds
	untrusting.CA = ""
	err = cluster.RunWorker(ctx, cluster.WorkerConfig{URL: e.e.URL(), Credentials: &untrusting, DataDir: t.TempDir()})
	if err == nil || !strings.Contains(err.Error(), "give the CA that signed the NATS server's certificate") {
		t.Errorf("worker without the CA: %v; want a TLS refusal saying what to give", err)
	}
	plain, err := nats.Connect(e.e.URL(), nats.UserInfo(e.creds.User, e.creds.Password), nats.Secure(&tls.Config{}), nats.Timeout(5*time.Second))
	if err == nil {
		plain.Close()
		t.Errorf("a client that does not trust the CA connected")
	}
}
