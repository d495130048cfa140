package registry_test

import (
	"encoding/json"
	"encoding/xml"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"pkgserver.dev/pkgserver/pkg/registry"
	"pkgserver.dev/pkgserver/pkg/store/layout"
)

// The OCI distribution-spec conformance suite, pinned (issue 3).
const (
	conformanceModule  = "github.com/opencontainers/distribution-spec/conformance"
	conformanceVersion = "v0.0.0-20260831232431-97274622c111"
)

// TestConformance builds the suite with go build from the module cache (one
// download through the Go module proxy the first time), runs it against the
// registry on a real port with every API test on (the suite's "dev" profile)
// and every data set but sparse, and fails on any failed test.
// PKGSERVER_CONFORMANCE_ENV adds suite variables ("OCI_DATA_SPARSE=true ...");
// PKGSERVER_CONFORMANCE_OUT keeps the suite's report in a file.
func TestConformance(t *testing.T) {
	if testing.Short() {
		t.Skip("conformance suite skipped with -short")
	}
	bin := buildConformance(t)

	s, err := layout.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	reg := registry.New(s, registry.Options{TempDir: t.TempDir()})
	t.Cleanup(func() { reg.Close() })
	srv := httptest.NewServer(reg)
	t.Cleanup(srv.Close)
	u, _ := url.Parse(srv.URL)

	results := t.TempDir()
	cmd := exec.Command(bin)
	cmd.Dir = t.TempDir() // no oci-conformance.yaml is picked up by accident
	cmd.Env = append(os.Environ(),
		"OCI_REGISTRY="+u.Host,
		"OCI_TLS=disabled",
		"OCI_REPO1=conformance/repo1",
		"OCI_REPO2=conformance/crossmount/repo2",
		"OCI_RESULTS_DIR="+results,
		// "dev" adds upload cancel, digest headers and ?tag= to the 1.1 defaults.
		"OCI_VERSION=dev",
		"OCI_API_PULL=true", "OCI_API_PUSH=true",
		"OCI_API_BLOBS_DELETE=true", "OCI_API_BLOBS_MOUNT_ANONYMOUS=true",
		"OCI_API_MANIFESTS_DELETE=true", "OCI_API_TAGS_DELETE=true", "OCI_API_TAGS_LIST=true",
		"OCI_API_REFERRER=true",
		// Sparse manifests (layers never pushed) are the one data set left off,
		// as in every profile of the suite: we refuse them with
		// MANIFEST_BLOB_UNKNOWN, which "Pushing Manifests" allows.
		"OCI_DATA_SPARSE=false",
		"OCI_LOG=warn",
	)
	if v := os.Getenv("PKGSERVER_CONFORMANCE_ENV"); v != "" {
		cmd.Env = append(cmd.Env, strings.Fields(v)...) // for experiments, e.g. OCI_DATA_SPARSE=true
	}
	out, runErr := cmd.CombinedOutput()
	if keep := os.Getenv("PKGSERVER_CONFORMANCE_OUT"); keep != "" {
		_ = os.WriteFile(keep, out, 0o644)
	}
	passed, failed, failures := readJUnit(t, filepath.Join(results, "junit.xml"))
	t.Logf("conformance: %d passed, %d failed", passed, failed)
	if runErr != nil || failed > 0 || passed == 0 {
		t.Logf("suite output:\n%s", out)
		for _, f := range failures {
			t.Errorf("conformance failure: %s", f)
		}
		t.Fatalf("conformance suite: %v", runErr)
	}
}

// buildConformance compiles the suite with go build into a temp dir.
func buildConformance(t *testing.T) string {
	t.Helper()
	// The go that runs this test, so the suite builds with the same toolchain.
	gocmd := filepath.Join(runtime.GOROOT(), "bin", "go")
	if _, err := os.Stat(gocmd); err != nil {
		gocmd = "go"
	}
	// go mod download prints where the module is, downloading it once.
	dl := exec.Command(gocmd, "mod", "download", "-json", conformanceModule+"@"+conformanceVersion)
	dl.Dir = t.TempDir()
	dl.Env = append(os.Environ(), "GOFLAGS=", "GOWORK=off")
	out, err := dl.Output()
	if err != nil {
		t.Fatalf("go mod download %s: %v\n%s", conformanceModule, err, out)
	}
	var mod struct{ Dir, Error string }
	if err := json.Unmarshal(out, &mod); err != nil || mod.Dir == "" {
		t.Fatalf("go mod download %s: %v %s", conformanceModule, err, mod.Error)
	}
	bin := filepath.Join(t.TempDir(), "conformance")
	build := exec.Command(gocmd, "build", "-o", bin, ".")
	build.Dir = mod.Dir
	// -mod=mod lets go fetch the suite's own dependencies without writing to
	// the read-only module cache directory.
	build.Env = append(os.Environ(), "GOFLAGS=-mod=mod", "GOWORK=off", "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build conformance: %v\n%s", err, out)
	}
	return bin
}

// readJUnit counts passed and failed (failure or error) test cases.
func readJUnit(t *testing.T, path string) (passed, failed int, failures []string) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("conformance report: %v", err)
	}
	var suites struct {
		Suites []struct {
			Cases []struct {
				Name      string `xml:"name,attr"`
				Status    string `xml:"status,attr"`
				SystemOut string `xml:"system-out"`
			} `xml:"testcase"`
		} `xml:"testsuite"`
	}
	if err := xml.Unmarshal(data, &suites); err != nil {
		t.Fatalf("conformance report: %v", err)
	}
	for _, s := range suites.Suites {
		for _, c := range s.Cases {
			switch c.Status {
			case "passed":
				passed++
			case "failure", "error":
				failed++
				failures = append(failures, c.Name+": "+strings.TrimSpace(c.SystemOut))
			}
		}
	}
	return passed, failed, failures
}
