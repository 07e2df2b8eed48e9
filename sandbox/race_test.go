//go:build race

package sandbox

// raceEnabled reports that the tests run with the race detector, which
// slows wazero's compiler about twelvefold: a 3 MB Go guest takes 16 s to
// compile instead of 1.4 s.
const raceEnabled = true
