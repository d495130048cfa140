package certs

import (
	"crypto/tls"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"testing"
	"time"

	"pkgserver.dev/pkgserver/internal/authtest"
)

// TestKeyPairRotates: a new certificate written over the files is served to
// the next connection, without a restart.
func TestKeyPairRotates(t *testing.T) {
	dir := t.TempDir()
	ca := authtest.NewCA(t, "ca")
	first, second := ca.Server(t), ca.Server(t)
	certFile, keyFile := first.WriteFiles(t, dir, "tls")
	kp, err := NewKeyPair(certFile, keyFile, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	// Not httptest's StartTLS: it adds a certificate of its own.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {})}
	go srv.Serve(tls.NewListener(ln, ServerConfig(kp, false)))
	defer srv.Close()
	url := "https://" + ln.Addr().String()

	served := func() string {
		t.Helper()
		c := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: ca.Pool()}, DisableKeepAlives: true}}
		resp, err := c.Get(url)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.TLS.PeerCertificates[0].SerialNumber.String()
	}
	if got := served(); got != first.Cert.SerialNumber.String() {
		t.Fatalf("serving %s, want the first certificate", got)
	}
	second.WriteFiles(t, dir, "tls")
	deadline := time.Now().Add(5 * time.Second)
	for served() != second.Cert.SerialNumber.String() {
		if time.Now().After(deadline) {
			t.Fatal("the new certificate is not served")
		}
		time.Sleep(100 * time.Millisecond)
	}
	// A half-written pair (new certificate, old key) keeps the last good pair.
	third := ca.Server(t)
	authtest.WriteFile(t, certFile, third.CertPEM)
	time.Sleep(1200 * time.Millisecond)
	if got := served(); got != second.Cert.SerialNumber.String() {
		t.Fatalf("mismatched pair: serving %s", got)
	}
}

func TestLoadErrors(t *testing.T) {
	dir := t.TempDir()
	log := slog.New(slog.DiscardHandler)
	bad := filepath.Join(dir, "bad.pem")
	authtest.WriteFile(t, bad, []byte("not pem"))
	if _, err := NewKeyPair(bad, bad, log); err == nil {
		t.Error("bad key pair accepted")
	}
	if _, err := NewCAPool(bad, log); err == nil {
		t.Error("bad CA bundle accepted")
	}
	if _, err := NewCAPool(filepath.Join(dir, "missing"), log); err == nil {
		t.Error("missing CA bundle accepted")
	}
	good := filepath.Join(dir, "ca.pem")
	authtest.WriteFile(t, good, authtest.NewCA(t, "ca").PEM)
	if p, err := NewCAPool(good, log); err != nil || p.Pool() == nil {
		t.Errorf("good CA bundle: %v", err)
	}
}

// TestServerConfigProtocols: TLS 1.2 with AEAD cipher suites only (no CBC,
// no RSA key exchange), TLS 1.3, and HTTP/2.
func TestServerConfigProtocols(t *testing.T) {
	dir := t.TempDir()
	ca := authtest.NewCA(t, "ca")
	certFile, keyFile := ca.Server(t).WriteFiles(t, dir, "tls")
	kp, err := NewKeyPair(certFile, keyFile, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	cfg := ServerConfig(kp, true)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				tls.Server(c, cfg).Handshake()
			}()
		}
	}()
	defer ln.Close()
	for _, tc := range []struct {
		name   string
		client *tls.Config
		ok     bool
	}{
		{"TLS 1.3", &tls.Config{MinVersion: tls.VersionTLS13}, true},
		{"TLS 1.2 with AES-GCM", &tls.Config{MaxVersion: tls.VersionTLS12, CipherSuites: []uint16{tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256}}, true},
		{"TLS 1.2 with ChaCha20-Poly1305", &tls.Config{MaxVersion: tls.VersionTLS12, CipherSuites: []uint16{tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256}}, true},
		{"TLS 1.2 with CBC", &tls.Config{MaxVersion: tls.VersionTLS12, CipherSuites: []uint16{tls.TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA, tls.TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA}}, false},
		{"TLS 1.1", &tls.Config{MinVersion: tls.VersionTLS10, MaxVersion: tls.VersionTLS11}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := tc.client
			c.RootCAs, c.ServerName, c.NextProtos = ca.Pool(), "localhost", []string{"h2", "http/1.1"}
			conn, err := tls.Dial("tcp", ln.Addr().String(), c)
			if !tc.ok {
				if err == nil {
					conn.Close()
					t.Fatal("handshake succeeded")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			if p := conn.ConnectionState().NegotiatedProtocol; p != "h2" {
				t.Fatalf("ALPN %q, want h2", p)
			}
		})
	}
}

func TestSharedCA(t *testing.T) {
	a, b, c := authtest.NewCA(t, "a").PEM, authtest.NewCA(t, "b").PEM, authtest.NewCA(t, "c").PEM
	for _, tc := range []struct {
		name string
		x, y []byte
		want bool
	}{
		{"same", a, a, true},
		{"different", a, b, false},
		{"one in a bundle", append(append([]byte{}, b...), a...), append(append([]byte{}, c...), a...), true},
		{"bundles apart", append(append([]byte{}, a...), b...), c, false},
		{"not PEM", []byte("x"), a, false},
	} {
		if got := SharedCA(tc.x, tc.y); got != tc.want {
			t.Errorf("%s: %v, want %v", tc.name, got, tc.want)
		}
	}
}
