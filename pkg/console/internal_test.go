package console

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	configapi "pkgserver.dev/pkgserver/api/config/v1alpha1"
	pkgapi "pkgserver.dev/pkgserver/api/pkg/v1alpha1"
	"pkgserver.dev/pkgserver/pkg/errdef"
)

// The vendored script is exactly the pinned release, with its license.
func TestHTMXPin(t *testing.T) {
	b, err := staticFS.ReadFile("static/htmx.min.js")
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(b)
	if got := hex.EncodeToString(sum[:]); got != htmxSHA256 {
		t.Fatalf("static/htmx.min.js has sha256 %s, not that of htmx %s (%s)", got, htmxVersion, htmxSHA256)
	}
	lic, err := os.ReadFile("static/htmx.LICENSE")
	if err != nil || !strings.Contains(string(lic), "Zero-Clause BSD") {
		t.Fatalf("htmx license: %v", err)
	}
}

func TestSealer(t *testing.T) {
	now := time.Unix(1_700_000_000, 0)
	s, err := newSealer([]byte("0123456789abcdef0123456789abcdef"), func() time.Time { return now })
	if err != nil {
		t.Fatal(err)
	}
	sess := s.newSession()
	sess.Kind, sess.Token = "token", "secret-token"
	v, err := s.seal("a", sess)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(v, "secret") {
		t.Fatal("sealed value shows the token")
	}
	var got session
	if err := s.open("a", v, &got); err != nil || got != *sess {
		t.Fatalf("open: %+v %v", got, err)
	}
	for _, tc := range []struct{ name, cookie, value string }{
		{"other name", "b", v},
		{"changed", "a", v[:len(v)-2] + "AA"},
		{"short", "a", "AAAA"},
		{"not base64", "a", "!!!"},
	} {
		if err := s.open(tc.cookie, tc.value, &got); !errors.Is(err, errBadCookie) {
			t.Errorf("%s: %v", tc.name, err)
		}
	}
	other, _ := newSealer([]byte("another key, quite long enough.."), time.Now)
	if err := other.open("a", v, &got); err == nil {
		t.Error("another key opens the cookie")
	}
	if !s.checkCSRF(sess, s.csrfToken(sess)) || s.checkCSRF(sess, "") || s.checkCSRF(s.newSession(), s.csrfToken(sess)) {
		t.Error("CSRF tokens do not bind to their session")
	}
	if other.checkCSRF(sess, s.csrfToken(sess)) {
		t.Error("CSRF token valid under another key")
	}
}

func TestFileProblems(t *testing.T) {
	err := &APIError{Status: metav1.Status{Code: 422, Message: "invalid", Details: &metav1.StatusDetails{Causes: []metav1.StatusCause{
		{Field: `spec.resources["a b.yaml"]`, Message: "line 4: invalid YAML: x"},
		{Field: `spec.resources["c.yaml"]`, Message: "metadata.name is missing"},
		{Field: "spec.resources", Message: "too many files"},
		{Message: "something else"},
	}}}}
	files, others := fileProblems(err)
	if len(files) != 2 || files[0] != (FileProblem{Path: "a b.yaml", Line: 4, Message: "invalid YAML: x"}) ||
		files[1] != (FileProblem{Path: "c.yaml", Message: "metadata.name is missing"}) {
		t.Fatalf("files %+v", files)
	}
	if len(others) != 2 || others[0] != "spec.resources: too many files" || others[1] != "something else" {
		t.Fatalf("others %q", others)
	}
	if !errors.Is(err, errdef.ErrInvalid) || codeOf(err) != 422 {
		t.Fatal("a 422 is not ErrInvalid")
	}
	if _, others := fileProblems(errors.New("plain")); len(others) != 1 {
		t.Fatal("a plain error is lost")
	}
}

func TestBadges(t *testing.T) {
	gate := []pkgapi.ReadinessGate{{ConditionType: "ci/tested"}}
	for _, tc := range []struct {
		name string
		pr   pkgapi.PackageRevision
		want string
	}{
		{name: "draft", pr: pkgapi.PackageRevision{Spec: pkgapi.PackageRevisionSpec{Lifecycle: "draft"}}},
		{name: "proposed", pr: pkgapi.PackageRevision{Spec: pkgapi.PackageRevisionSpec{Lifecycle: "proposed"}}, want: "waiting for approval"},
		{name: "gate without result", pr: pkgapi.PackageRevision{Spec: pkgapi.PackageRevisionSpec{Lifecycle: "draft", ReadinessGates: gate}}, want: "gate pending"},
		{name: "gate failing", pr: pkgapi.PackageRevision{Spec: pkgapi.PackageRevisionSpec{Lifecycle: "proposed", ReadinessGates: gate},
			Status: pkgapi.PackageRevisionStatus{Conditions: []metav1.Condition{{Type: "ci/tested", Status: "False"}}}}, want: "waiting for approval,gate failing"},
		{name: "gate met", pr: pkgapi.PackageRevision{Spec: pkgapi.PackageRevisionSpec{Lifecycle: "draft", ReadinessGates: gate},
			Status: pkgapi.PackageRevisionStatus{Conditions: []metav1.Condition{{Type: "ci/tested", Status: "True"}}}}},
		{name: "published gates are history", pr: pkgapi.PackageRevision{Spec: pkgapi.PackageRevisionSpec{Lifecycle: "published", ReadinessGates: gate}}},
		{name: "upgrade", pr: pkgapi.PackageRevision{Spec: pkgapi.PackageRevisionSpec{Lifecycle: "published"},
			Status: pkgapi.PackageRevisionStatus{UpgradeAvailable: &pkgapi.UpstreamRevision{Name: "x", Revision: "v2"}}}, want: "upgrade available"},
		{name: "deletion", pr: pkgapi.PackageRevision{Spec: pkgapi.PackageRevisionSpec{Lifecycle: "deletionProposed"}}, want: "deletion waiting for approval"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var got []string
			for _, b := range badgesOf(&tc.pr) {
				got = append(got, b.Text)
			}
			if strings.Join(got, ",") != tc.want {
				t.Fatalf("%q, want %q", got, tc.want)
			}
		})
	}
}

func TestSnippets(t *testing.T) {
	pr := &pkgapi.PackageRevision{
		ObjectMeta: metav1.ObjectMeta{Name: "eu.sites.apps.web.initial", Namespace: "team"},
		Spec:       pkgapi.PackageRevisionSpec{PackageRevID: pkgapi.PackageRevID{Target: "eu", Repository: "sites", Realm: "apps", Package: "web", Revision: "v3"}},
		Status:     pkgapi.PackageRevisionStatus{OCI: &pkgapi.OCIStatus{Reference: "reg.example:5000/team/sites/eu/apps/web:v3", Digest: "sha256:abc"}},
	}
	for _, tc := range []struct {
		name      string
		repo      *configapi.Repository
		serverTLS bool
		plain     bool
	}{
		{name: "embedded over TLS", serverTLS: true},
		{name: "embedded without TLS", plain: true},
		{name: "remote over HTTPS", repo: &configapi.Repository{Spec: configapi.RepositorySpec{OCI: &configapi.OCIRepository{Registry: "reg.example:5000/x"}}}},
		{name: "remote plain HTTP", serverTLS: true, plain: true, repo: &configapi.Repository{Spec: configapi.RepositorySpec{OCI: &configapi.OCIRepository{Registry: "reg.example:5000/x", PlainHTTP: true}}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			all := ""
			for _, s := range snippetsFor(pr, tc.repo, tc.serverTLS) {
				all += s.Text
			}
			for _, w := range []string{"oras pull", "reg.example:5000/team/sites/eu/apps/web:v3 -o .", "kubectl get packagerevisions.pkg.pkgserver.dev eu.sites.apps.web.initial --namespace team",
				"url: oci://reg.example:5000/team/sites/eu/apps/web", "tag: v3", "digest: sha256:abc", "path: ./web", "repoURL: oci://reg.example:5000/team/sites/eu/apps/web",
				"targetRevision: v3", "name: eu-web", "mediaType: application/vnd.oci.image.layer.v1.tar+gzip"} {
				if !strings.Contains(all, w) {
					t.Errorf("no %q in\n%s", w, all)
				}
			}
			if got := strings.Contains(all, "--plain-http") && strings.Contains(all, "insecure: true"); got != tc.plain {
				t.Errorf("plain HTTP %v, want %v:\n%s", got, tc.plain, all)
			}
		})
	}
	pr.Status.OCI = nil
	if snippetsFor(pr, nil, true) != nil {
		t.Error("snippets without a reference")
	}
}

func TestHighlightEscapes(t *testing.T) {
	for _, name := range []string{"a.yaml", "Kptfile", "README.md", "x.unknown", ""} {
		out := string(highlight(name, "a: \"</script><script>alert(1)</script>\"\n<img src=x onerror=alert(2)>\n", 2))
		if strings.Contains(out, "<script>") || strings.Contains(out, "<img") {
			t.Errorf("%s: unescaped markup in\n%s", name, out)
		}
		if strings.Contains(out, "style=") {
			t.Errorf("%s: a style attribute (the CSP refuses it):\n%s", name, out)
		}
		if !strings.Contains(out, `id="L2"`) || !strings.Contains(out, "hl-hl") {
			t.Errorf("%s: line 2 not linkable or not marked:\n%s", name, out)
		}
	}
}

func TestCookieSize(t *testing.T) {
	s, _ := newSealer(nil, time.Now)
	sess := s.newSession()
	sess.Token = strings.Repeat("x", 2000)
	if !s.fits("c", sess) {
		t.Fatal("a 2000-byte token does not fit")
	}
	sess.Token = strings.Repeat("x", 3000)
	if s.fits("c", sess) {
		t.Fatal("a 3000-byte token fits, sealed and encoded")
	}
}
