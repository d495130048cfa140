package e2e

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	configapi "pkgserver.dev/pkgserver/api/config/v1alpha1"
	"pkgserver.dev/pkgserver/e2e/internal/harness"
	"pkgserver.dev/pkgserver/internal/registryproc"
)

// TestTLSRegistry: a registry served over HTTPS with a certificate of a
// private CA works once the CA is trusted the standard way (SSL_CERT_FILE),
// and fails with a clear 503 naming the certificate problem when it is not.
func TestTLSRegistry(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	caFile, certFile, keyFile := writeTLSFiles(t, dir)
	bin, err := registryproc.Binary()
	if err != nil {
		t.Fatal(err)
	}
	reg, err := registryproc.StartWith(bin, t.TempDir(), registryproc.Options{TLSCert: certFile, TLSKey: keyFile})
	if err != nil {
		t.Fatal(err)
	}
	defer reg.Stop()

	repo := func(name string) *configapi.Repository {
		return &configapi.Repository{
			TypeMeta:   metav1.TypeMeta{APIVersion: configapi.SchemeGroupVersion.String(), Kind: configapi.RepositoryKind},
			ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: namespace},
			Spec:       configapi.RepositorySpec{Type: configapi.RepositoryTypeOCI, OCI: &configapi.OCIRepository{Registry: reg.Addr + "/tls/" + name}},
		}
	}

	// Trusted: the whole lifecycle over HTTPS.
	srv := harness.Start(t, harness.Options{Bin: serverBin, DataDir: t.TempDir(), Env: []string{"SSL_CERT_FILE=" + caFile}})
	c := harness.NewClient(srv.URL, namespace)
	c.User = approver
	c.CreateRepository(t, repo("secure"))
	id := catalogID("secure", "", "app", "ws")
	createDraft(t, c, id, initTask("over TLS"), nil)
	pr := publish(t, c, harness.RevisionName(id))
	if !strings.HasPrefix(pr.Status.OCI.Reference, reg.Addr+"/tls/secure/app:v1") {
		t.Fatalf("reference %q", pr.Status.OCI.Reference)
	}
	pool := x509.NewCertPool()
	caPEM, _ := os.ReadFile(caFile)
	pool.AppendCertsFromPEM(caPEM)
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	req, _ := http.NewRequest(http.MethodHead, "https://"+reg.Addr+"/v2/tls/secure/app/manifests/v1", nil)
	req.Header.Set("Accept", "application/vnd.oci.image.manifest.v1+json")
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Docker-Content-Digest") != pr.Status.OCI.Digest {
		t.Fatalf("registry has v1 %d %s, want 200 %s", resp.StatusCode, resp.Header.Get("Docker-Content-Digest"), pr.Status.OCI.Digest)
	}

	// Not trusted: refused as a registry failure that names the certificate.
	plain := harness.Start(t, harness.Options{Bin: serverBin, DataDir: t.TempDir()})
	c2 := harness.NewClient(plain.URL, namespace)
	c2.CreateRepository(t, repo("untrusted"))
	st := c2.ExpectStatus(t, http.MethodPost, c2.RevisionsPath(""), newRevision(catalogID("untrusted", "", "app", "ws"), initTask(""), nil), http.StatusServiceUnavailable)
	if !strings.Contains(st.Message, "certificate") {
		t.Fatalf("refusal %q does not mention the certificate", st.Message)
	}
}

// writeTLSFiles makes a CA and a certificate for 127.0.0.1 signed by it.
func writeTLSFiles(t *testing.T, dir string) (ca, cert, key string) {
	t.Helper()
	caKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	caTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "pkgserver e2e CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	srvKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	srvTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "127.0.0.1"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		KeyUsage: x509.KeyUsageDigitalSignature,
	}
	caCert, _ := x509.ParseCertificate(caDER)
	srvDER, err := x509.CreateCertificate(rand.Reader, srvTmpl, caCert, &srvKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalECPrivateKey(srvKey)
	if err != nil {
		t.Fatal(err)
	}
	write := func(name, typ string, der []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	return write("ca.pem", "CERTIFICATE", caDER), write("cert.pem", "CERTIFICATE", srvDER), write("key.pem", "EC PRIVATE KEY", keyDER)
}
