package client

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	pkgapi "pkgserver.dev/pkgserver/api/pkg/v1alpha1"
)

// oneRevision serves GET of a revision in a lifecycle and echoes PUTs.
type oneRevision struct {
	lifecycle pkgapi.Lifecycle
	puts      []string // "path lifecycle resourceVersion"
}

func (o *oneRevision) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	switch r.Method {
	case http.MethodGet:
		_ = json.NewEncoder(w).Encode(&pkgapi.PackageRevision{
			ObjectMeta: metav1.ObjectMeta{Name: "n", ResourceVersion: "41"},
			Spec:       pkgapi.PackageRevisionSpec{Lifecycle: o.lifecycle},
		})
	case http.MethodPut:
		var pr pkgapi.PackageRevision
		_ = json.NewDecoder(r.Body).Decode(&pr)
		o.puts = append(o.puts, strings.TrimPrefix(r.URL.Path, prPath+"/")+" "+string(pr.Spec.Lifecycle)+" "+pr.ResourceVersion)
		_ = json.NewEncoder(w).Encode(&pr)
	}
}

func TestLifecycleHelpers(t *testing.T) {
	type helper func(*PackageRevisionClient, context.Context, string) (*pkgapi.PackageRevision, error)
	propose, approve := (*PackageRevisionClient).Propose, (*PackageRevisionClient).Approve
	reject, proposeDelete := (*PackageRevisionClient).Reject, (*PackageRevisionClient).ProposeDelete
	tests := []struct {
		name    string
		from    pkgapi.Lifecycle
		call    helper
		wantPut string // empty: refused
		wantErr string
	}{
		{"propose draft", pkgapi.LifecycleDraft, propose, "n proposed 41", ""},
		{"propose proposed", pkgapi.LifecycleProposed, propose, "", `cannot propose package revision "n": it is proposed, not draft`},
		{"approve proposed", pkgapi.LifecycleProposed, approve, "n/approval published 41", ""},
		{"approve draft", pkgapi.LifecycleDraft, approve, "", `cannot approve package revision "n": it is draft, not proposed`},
		{"approve published", pkgapi.LifecyclePublished, approve, "", "it is published, not proposed"},
		{"reject proposed", pkgapi.LifecycleProposed, reject, "n/approval draft 41", ""},
		{"reject deletion proposal", pkgapi.LifecycleDeletionProposed, reject, "n/approval published 41", ""},
		{"reject draft", pkgapi.LifecycleDraft, reject, "", "it is draft, not proposed or deletionProposed"},
		{"propose delete published", pkgapi.LifecyclePublished, proposeDelete, "n/approval deletionProposed 41", ""},
		{"propose delete draft", pkgapi.LifecycleDraft, proposeDelete, "", `cannot propose for deletion package revision "n": it is draft, not published`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := &oneRevision{lifecycle: tt.from}
			c := newTestClient(t, srv).PackageRevisions("ns1")
			_, err := tt.call(c, context.Background(), "n")
			if tt.wantErr != "" {
				var le *LifecycleError
				if !errors.As(err, &le) || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want a LifecycleError with %q", err, tt.wantErr)
				}
				if le.Lifecycle != tt.from {
					t.Errorf("LifecycleError.Lifecycle = %q, want %q", le.Lifecycle, tt.from)
				}
				if len(srv.puts) != 0 {
					t.Errorf("writes sent: %q", srv.puts)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(srv.puts) != 1 || srv.puts[0] != tt.wantPut {
				t.Errorf("writes = %q, want [%q]", srv.puts, tt.wantPut)
			}
		})
	}
}
