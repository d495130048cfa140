package bench

import (
	"math"
	"slices"
	"time"
)

// Samples are measured durations of one operation.
type Samples []time.Duration

// Percentile returns the p-th percentile (0 < p ≤ 100) by nearest rank, in
// milliseconds; NaN when there are no samples.
func (s Samples) Percentile(p float64) float64 {
	if len(s) == 0 {
		return math.NaN()
	}
	sorted := slices.Clone(s)
	slices.Sort(sorted)
	rank := int(math.Ceil(p / 100 * float64(len(sorted))))
	rank = min(max(rank, 1), len(sorted))
	return ms(sorted[rank-1])
}

// P50 and P99 are the median and the 99th percentile in milliseconds.
func (s Samples) P50() float64 { return s.Percentile(50) }
func (s Samples) P99() float64 { return s.Percentile(99) }

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// timed runs fn and returns how long it took.
func timed(fn func() error) (time.Duration, error) {
	start := time.Now()
	err := fn()
	return time.Since(start), err
}
