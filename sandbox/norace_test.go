//go:build !race

package sandbox

// raceEnabled reports that the tests run with the race detector.
const raceEnabled = false
