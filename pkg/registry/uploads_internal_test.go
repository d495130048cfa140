package registry

import (
	"errors"
	"strings"
	"testing"
)

func TestUploadSessionsPerClient(t *testing.T) {
	u := newUploads(Options{TempDir: t.TempDir(), MaxUploadSessions: 3, MaxUploadSessionsPerClient: 2}.withDefaults())
	t.Cleanup(func() { u.closeAll() })
	tests := []struct {
		client string
		flag   string // "" means admitted
	}{
		{"10.0.0.1", ""},
		{"10.0.0.1", ""},
		{"10.0.0.1", FlagMaxUploadSessionsPerClient},
		{"10.0.0.2", ""},
		{"10.0.0.3", FlagMaxUploadSessions},
	}
	for i, tt := range tests {
		s, err := u.start("r", tt.client)
		if tt.flag == "" {
			if err != nil {
				t.Fatalf("session %d of %s: %v", i, tt.client, err)
			}
			s.release()
			continue
		}
		var e *Error
		if !errors.As(err, &e) || e.Code != CodeTooManyRequests || e.Message == "" {
			t.Fatalf("session %d of %s: %v, want TOOMANYREQUESTS", i, tt.client, err)
		}
		if want := "(--" + tt.flag + ")"; !strings.Contains(e.Message, want) {
			t.Errorf("message %q does not name %s", e.Message, want)
		}
	}
}
