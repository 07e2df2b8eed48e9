package policy

import (
	"errors"
	"flag"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

var update = flag.Bool("update", false, "rewrite testdata/invalid/*.want from the current output")

// invalidOptions are the options every corpus case is checked with; 4
// usable CPUs on 2 cores makes the worker cases deterministic on any machine.
var invalidOptions = Options{UsableCPUs: 4, UsableCores: 2}

// TestInvalidCorpus checks each testdata/invalid/NAME.yaml and compares
// every problem, in order, with NAME.want. Paths under the corpus folder
// are written as $DIR in the .want files so they hold on any checkout.
func TestInvalidCorpus(t *testing.T) {
	dir, err := filepath.Abs("testdata/invalid")
	require.NoError(t, err)
	yamls, err := filepath.Glob(filepath.Join(dir, "*.yaml"))
	require.NoError(t, err)
	wants, err := filepath.Glob(filepath.Join(dir, "*.want"))
	require.NoError(t, err)
	require.GreaterOrEqual(t, len(yamls), 40, "the corpus covers every rule")
	if !*update {
		require.Equal(t, len(yamls), len(wants), "each NAME.yaml has a NAME.want and no .want is left over")
	}
	t.Chdir(dir)

	for _, file := range yamls {
		name := filepath.Base(file)
		t.Run(strings.TrimSuffix(name, ".yaml"), func(t *testing.T) {
			data, err := os.ReadFile(name)
			require.NoError(t, err)
			_, err = Parse(name, data, invalidOptions)
			var problems *Problems
			require.True(t, errors.As(err, &problems), "want *Problems, got %v", err)
			require.NotEmpty(t, *problems)
			got := strings.ReplaceAll(problems.Error(), dir, "$DIR") + "\n"

			lines := strings.Split(string(data), "\n")
			line := regexp.MustCompile(`^` + regexp.QuoteMeta(name) + `:(\d+):(\d+): `)
			for _, p := range *problems {
				assert.Regexp(t, line, p.String())
				assert.GreaterOrEqual(t, p.Line, 1, p.String())
				assert.LessOrEqual(t, p.Line, len(lines), p.String())
				assert.GreaterOrEqual(t, p.Col, 1, p.String())
			}

			wantFile := strings.TrimSuffix(name, ".yaml") + ".want"
			if *update {
				require.NoError(t, os.WriteFile(wantFile, []byte(got), 0o644))
				return
			}
			want, err := os.ReadFile(wantFile)
			require.NoError(t, err)
			assert.Equal(t, string(want), got)
		})
	}
}
