package testregistry

import (
	"net/http"
	"testing"
)

func TestStart(t *testing.T) {
	addr := Start(t)
	resp, err := http.Get("http://" + addr + "/v2/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /v2/ = %d, want 200", resp.StatusCode)
	}
}
