// Package certs serves TLS from certificate files that are read again when
// they change (--tls-cert-file, --tls-private-key-file), and keeps CA bundles
// (--client-ca-file, --requestheader-client-ca-file) current the same way,
// so certificates rotate without a restart.
package certs

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"log/slog"

	"pkgserver.dev/pkgserver/pkg/auth/internal/reload"
)

// KeyPair is a serving certificate read from a PEM certificate (chain) file
// and a PEM private key file.
type KeyPair struct {
	files *reload.Files[*tls.Certificate]
}

// NewKeyPair loads certFile and keyFile; they must be a matching pair.
func NewKeyPair(certFile, keyFile string, log *slog.Logger) (*KeyPair, error) {
	f, err := reload.New(parseKeyPair, []string{certFile, keyFile}, reload.WithLogger(log))
	if err != nil {
		return nil, fmt.Errorf("TLS certificate %s and key %s: %w", certFile, keyFile, err)
	}
	return &KeyPair{files: f}, nil
}

func parseKeyPair(data [][]byte) (*tls.Certificate, error) {
	c, err := tls.X509KeyPair(data[0], data[1])
	if err != nil {
		return nil, err
	}
	return &c, nil
}

// GetCertificate is a tls.Config.GetCertificate returning the current pair.
func (k *KeyPair) GetCertificate(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	return k.files.Get(), nil
}

// CAPool is a bundle of PEM CA certificates.
type CAPool struct {
	files *reload.Files[*x509.CertPool]
}

// NewCAPool loads the PEM bundle in path; it must hold at least one certificate.
func NewCAPool(path string, log *slog.Logger) (*CAPool, error) {
	f, err := reload.New(parseCAPool, []string{path}, reload.WithLogger(log))
	if err != nil {
		return nil, fmt.Errorf("CA bundle %s: %w", path, err)
	}
	return &CAPool{files: f}, nil
}

// ParseCAPool parses a PEM bundle of CA certificates.
func parseCAPool(data [][]byte) (*x509.CertPool, error) {
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(data[0]) {
		return nil, errors.New("no PEM certificate found")
	}
	return pool, nil
}

// Pool returns the current bundle.
func (p *CAPool) Pool() *x509.CertPool { return p.files.Get() }

// cipherSuites are the TLS 1.2 suites served: ECDHE key exchange with an
// AEAD cipher only (no CBC, no RSA key exchange), the suites of TLS 1.3's
// security that every client of the last decade offers. TLS 1.3 suites are
// not configurable and all good.
var cipherSuites = []uint16{
	tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
	tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
	tls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
	tls.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
	tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
	tls.TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
}

// ServerConfig is the TLS configuration of the listener: TLS 1.2 (AEAD
// suites only) and 1.3, HTTP/2, the current serving certificate, and
// client certificates requested but not verified here. Each
// authenticator verifies them against its own CA (client certificates against
// --client-ca-file, the front proxy's against --requestheader-client-ca-file),
// as kube-apiserver does; the handshake still proves the client holds the key.
func ServerConfig(k *KeyPair, requestClientCerts bool) *tls.Config {
	cfg := &tls.Config{
		MinVersion:     tls.VersionTLS12,
		CipherSuites:   cipherSuites,
		GetCertificate: k.GetCertificate,
		NextProtos:     []string{"h2", "http/1.1"},
	}
	if requestClientCerts {
		cfg.ClientAuth = tls.RequestClientCert
	}
	return cfg
}

// SharedCA reports whether two PEM bundles hold a certificate in common.
func SharedCA(a, b []byte) bool {
	seen := map[string]bool{}
	for _, c := range certsOf(a) {
		seen[string(c)] = true
	}
	for _, c := range certsOf(b) {
		if seen[string(c)] {
			return true
		}
	}
	return false
}

// certsOf returns the DER of every CERTIFICATE block of a PEM bundle.
func certsOf(data []byte) [][]byte {
	var out [][]byte
	for {
		var b *pem.Block
		if b, data = pem.Decode(data); b == nil {
			return out
		}
		if b.Type == "CERTIFICATE" {
			out = append(out, b.Bytes)
		}
	}
}
