package policy

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

// FuzzParse feeds arbitrary bytes to Parse: a reload reads whatever is in
// the file at that moment, so nothing may panic, and every refusal must be
// a well-formed, sorted *Problems.
func FuzzParse(f *testing.F) {
	files, _ := filepath.Glob("testdata/invalid/*.yaml")
	for _, file := range files {
		if data, err := os.ReadFile(file); err == nil {
			f.Add(data)
		}
	}
	f.Add([]byte(productExample))
	f.Add([]byte(minimal))
	f.Fuzz(func(t *testing.T, data []byte) {
		// File checks stay off: fuzzed paths must not make the test read
		// the machine's files.
		p, err := Parse("/fuzz/p.yaml", data, Options{UsableCPUs: 2, SkipFileChecks: true})
		if err == nil {
			if p == nil {
				t.Fatal("no error and no policy")
			}
			return
		}
		var problems *Problems
		if !errors.As(err, &problems) {
			t.Fatalf("error is %T, not *Problems: %v", err, err)
		}
		if len(*problems) == 0 {
			t.Fatal("empty *Problems")
		}
		for _, pr := range *problems {
			if pr.Line < 1 || pr.Col < 1 || pr.Message == "" {
				t.Fatalf("malformed problem %q", pr.String())
			}
		}
		if !slices.IsSortedFunc(*problems, func(a, b Problem) int {
			if a.Line != b.Line {
				return a.Line - b.Line
			}
			return a.Col - b.Col
		}) {
			t.Fatalf("problems not sorted:\n%s", problems.Error())
		}
	})
}
