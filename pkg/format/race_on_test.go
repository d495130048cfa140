//go:build race

package format

// raceEnabled is true under -race, where the size-limit tests (single
// goroutine, tens of MiB through gzip) take minutes; they run without -race.
const raceEnabled = true
