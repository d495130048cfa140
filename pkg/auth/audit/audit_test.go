package audit

import (
	"bufio"
	"bytes"
	"encoding/json"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	auditv1 "k8s.io/apiserver/pkg/apis/audit/v1"
	"k8s.io/apiserver/pkg/authentication/user"
)

func TestLog(t *testing.T) {
	p := filepath.Join(t.TempDir(), "audit.log")
	l, err := Open(p)
	if err != nil {
		t.Fatal(err)
	}
	r := httptest.NewRequest("PUT", "/apis/pkg.pkgserver.dev/v1alpha1/namespaces/a/packagerevisions/x/approval?dryRun=All", nil)
	r.RemoteAddr = "192.0.2.7:4711"
	r.Header.Set("User-Agent", "kubectl/v1")
	r.Header.Set("X-Forwarded-For", "203.0.113.1")
	var wg sync.WaitGroup
	for i := range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ev := NewEvent(r, time.Now())
			ev.User = UserInfo(&user.DefaultInfo{Name: "alice", Groups: []string{"g"}, Extra: map[string][]string{"k": {"v"}}})
			ev.Verb = "update"
			Annotate(ev, AnnotationDecision, "allow")
			if i%2 == 0 {
				Annotate(ev, AnnotationReason, "because")
			}
			if err := l.Write(ev); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	st, _ := os.Stat(p)
	if st.Mode().Perm() != 0o600 {
		t.Errorf("mode %v, want 0600", st.Mode().Perm())
	}
	data, _ := os.ReadFile(p)
	sc := bufio.NewScanner(bytes.NewReader(data))
	n := 0
	for sc.Scan() {
		var ev auditv1.Event
		if err := json.Unmarshal(sc.Bytes(), &ev); err != nil {
			t.Fatalf("line %d: %v: %s", n+1, err, sc.Text())
		}
		n++
		if ev.Kind != "Event" || ev.APIVersion != "audit.k8s.io/v1" || ev.Level != auditv1.LevelMetadata || ev.Stage != auditv1.StageResponseComplete ||
			ev.User.Username != "alice" || ev.Verb != "update" || ev.AuditID == "" || ev.UserAgent != "kubectl/v1" ||
			len(ev.SourceIPs) != 1 || ev.SourceIPs[0] != "192.0.2.7" || ev.RequestURI != r.URL.RequestURI() || ev.Annotations[AnnotationDecision] != "allow" {
			t.Fatalf("event %+v", ev)
		}
	}
	if n != 20 {
		t.Fatalf("%d events, want 20", n)
	}
}

func TestMutating(t *testing.T) {
	for v, want := range map[string]bool{"get": false, "list": false, "watch": false, "create": true, "update": true, "patch": true, "delete": true, "deletecollection": true, "post": true, "put": true, "head": false, "impersonate": false} {
		if Mutating(v) != want {
			t.Errorf("Mutating(%q) != %v", v, want)
		}
	}
}
