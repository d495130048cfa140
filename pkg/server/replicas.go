package server

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"

	"pkgserver.dev/pkgserver/pkg/coord"
	"pkgserver.dev/pkgserver/pkg/coord/etcd"
	"pkgserver.dev/pkgserver/pkg/coord/local"
)

// Replicas configures how this process coordinates with others
// (docs/operations.md, "Running several replicas"). Flag names follow
// kube-apiserver's.
type Replicas struct {
	// EtcdServers are the etcd client URLs; none means a single replica with
	// a local coordinator.
	EtcdServers []string
	// EtcdPrefix is put before every key pkgserver writes in etcd.
	EtcdPrefix string
	// EtcdCAFile, EtcdCertFile and EtcdKeyFile secure the connection to etcd.
	EtcdCAFile, EtcdCertFile, EtcdKeyFile string
	// ConfigRegistry is host[:port]/path of the shared registry that keeps the
	// Repository objects; empty means the embedded store (one replica only).
	ConfigRegistry string
	// ConfigRegistryPlainHTTP reaches ConfigRegistry over HTTP.
	ConfigRegistryPlainHTTP bool
}

// shared reports whether several replicas coordinate through etcd.
func (r Replicas) shared() bool { return len(r.EtcdServers) > 0 }

// check refuses settings that cannot work together.
func (r Replicas) check() error {
	switch {
	case r.shared() && r.ConfigRegistry == "":
		return errors.New("--etcd-servers needs --config-registry: replicas must keep their Repository objects in one shared registry, not in each one's data directory")
	case !r.shared() && (r.EtcdCAFile != "" || r.EtcdCertFile != "" || r.EtcdKeyFile != ""):
		return errors.New("--etcd-cafile, --etcd-certfile and --etcd-keyfile need --etcd-servers")
	case (r.EtcdCertFile == "") != (r.EtcdKeyFile == ""):
		return errors.New("--etcd-certfile and --etcd-keyfile go together")
	}
	if r.ConfigRegistry != "" {
		host, path, _ := strings.Cut(r.ConfigRegistry, "/")
		if host == "" || path == "" {
			return fmt.Errorf("--config-registry %q: want host[:port]/path", r.ConfigRegistry)
		}
	}
	return nil
}

// coordinator opens the coordinator: etcd when configured, else the local
// one, whose state lives beside the embedded store.
func (r Replicas) coordinator(ctx context.Context, dataDir string, log *slog.Logger) (coord.Coordinator, error) {
	if !r.shared() {
		return local.Open(filepath.Join(dataDir, "state"))
	}
	var tc *tls.Config
	if r.EtcdCAFile != "" || r.EtcdCertFile != "" {
		tc = &tls.Config{MinVersion: tls.VersionTLS12}
		if r.EtcdCAFile != "" {
			pem, err := os.ReadFile(r.EtcdCAFile)
			if err != nil {
				return nil, fmt.Errorf("--etcd-cafile: %w", err)
			}
			tc.RootCAs = x509.NewCertPool()
			if !tc.RootCAs.AppendCertsFromPEM(pem) {
				return nil, fmt.Errorf("--etcd-cafile %s: no certificate in it", r.EtcdCAFile)
			}
		}
		if r.EtcdCertFile != "" {
			cert, err := tls.LoadX509KeyPair(r.EtcdCertFile, r.EtcdKeyFile)
			if err != nil {
				return nil, fmt.Errorf("--etcd-certfile/--etcd-keyfile: %w", err)
			}
			tc.Certificates = []tls.Certificate{cert}
		}
	}
	return etcd.Open(ctx, etcd.Options{Endpoints: r.EtcdServers, Prefix: r.EtcdPrefix, TLS: tc, Logger: log})
}

// replicaID returns this data directory's replica name, made once.
func replicaID(dataDir string) (string, error) {
	p := filepath.Join(dataDir, "state", "replica-id")
	if b, err := os.ReadFile(p); err == nil {
		return strings.TrimSpace(string(b)), nil
	} else if !errors.Is(err, os.ErrNotExist) {
		return "", err
	}
	id := rand.Text()
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return "", err
	}
	return id, os.WriteFile(p, []byte(id+"\n"), 0o644)
}
