package krm

import (
	"testing"

	"go.yaml.in/yaml/v3"
)

func TestNewKptfile(t *testing.T) {
	const want = `apiVersion: kpt.dev/v1
kind: Kptfile
metadata:
  name: web
  annotations:
    config.kubernetes.io/local-config: "true"
info:
  description: A web server.
`
	if got := NewKptfile("web", "A web server."); got != want {
		t.Errorf("NewKptfile =\n%s\nwant\n%s", got, want)
	}
	const bare = `apiVersion: kpt.dev/v1
kind: Kptfile
metadata:
  name: web
  annotations:
    config.kubernetes.io/local-config: "true"
`
	if got := NewKptfile("web", ""); got != bare {
		t.Errorf("NewKptfile without description =\n%s\nwant\n%s", got, bare)
	}
}

func TestNewKptfileIsValidAndQuotes(t *testing.T) {
	for _, desc := range []string{"", "a: b", "line1\nline2", "#not a comment", "true", "- x", "---"} {
		kf := NewKptfile("web", desc)
		if err := Validate(map[string]string{"Kptfile": kf}); err != nil {
			t.Errorf("NewKptfile(%q) is not valid: %v", desc, err)
		}
		var got struct {
			Info struct{ Description string }
		}
		if err := yaml.Unmarshal([]byte(kf), &got); err != nil {
			t.Fatalf("NewKptfile(%q): %v", desc, err)
		}
		if got.Info.Description != desc {
			t.Errorf("NewKptfile(%q) round-trips the description as %q", desc, got.Info.Description)
		}
	}
}
