package e2e

import "testing"

// scenarios run against every backend, each with its own server.
var scenarios = []struct {
	name string
	// embeddedOnly scenarios exercise the embedded store's own guarantees.
	embeddedOnly bool
	run          func(t *testing.T, e *env)
}{
	{name: "Lifecycle", run: testLifecycle},
	{name: "Clone", run: testClone},
	{name: "Validation", run: testValidation},
	{name: "StaleResourceVersion", run: testStaleResourceVersion},
	{name: "BodyLimit", run: testBodyLimit},
	{name: "Restart", run: testRestart},
	{name: "DataDirLock", run: testDataDirLock},
	{name: "OrasPull", run: testOrasPull},
	{name: "OCITags", run: testOCITags},
	{name: "DraftBehindPublished", run: testDraftBehindPublished},
	{name: "LatestBehindServer", run: testLatestBehindServer},
	{name: "KillDuringWrites", embeddedOnly: true, run: testKillDuringWrites},
}

func TestE2E(t *testing.T) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			t.Parallel()
			for _, sc := range scenarios {
				if sc.embeddedOnly && b.remote {
					continue
				}
				t.Run(sc.name, func(t *testing.T) {
					t.Parallel()
					sc.run(t, newEnv(t, b))
				})
			}
		})
	}
}
