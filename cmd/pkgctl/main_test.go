package main

import (
	"errors"
	"os"
	"os/exec"
	"strings"
	"testing"
)

// TestMain lets the test binary act as pkgctl when PKGCTL_TEST_MAIN is set,
// so the tests below run main with real arguments and exit codes.
func TestMain(m *testing.M) {
	if os.Getenv("PKGCTL_TEST_MAIN") == "1" {
		os.Args = append([]string{"pkgctl"}, strings.Fields(os.Getenv("PKGCTL_TEST_ARGS"))...)
		main()
		return
	}
	os.Exit(m.Run())
}

func TestExitCodes(t *testing.T) {
	tests := []struct {
		args   string
		code   int
		output string
	}{
		{"--help", 0, "Usage:"},
		{"rpkg frob", 2, `unknown command "frob"`},
		{"--server http://127.0.0.1:1 rpkg get", 1, "cannot reach the server"},
	}
	for _, tt := range tests {
		t.Run(tt.args, func(t *testing.T) {
			cmd := exec.Command(os.Args[0])
			cmd.Env = append(os.Environ(), "PKGCTL_TEST_MAIN=1", "PKGCTL_TEST_ARGS="+tt.args)
			out, err := cmd.CombinedOutput()
			code := 0
			var ee *exec.ExitError
			if errors.As(err, &ee) {
				code = ee.ExitCode()
			} else if err != nil {
				t.Fatal(err)
			}
			if code != tt.code || !strings.Contains(string(out), tt.output) {
				t.Errorf("pkgctl %s: exit %d, output %q; want exit %d with %q", tt.args, code, out, tt.code, tt.output)
			}
		})
	}
}
