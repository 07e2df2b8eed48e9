package topology

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestParseStrategy(t *testing.T) {
	for _, s := range []Strategy{Pinned, Pooled, Auto} {
		got, err := ParseStrategy(string(s))
		require.NoError(t, err)
		assert.Equal(t, s, got)
	}
	_, err := ParseStrategy("Pinned")
	assert.ErrorContains(t, err, `unknown strategy "Pinned"`)
}

func TestPlaceRejectsNoWorkers(t *testing.T) {
	topo := &Topology{Usable: []int{0}, Cores: []Core{core(0, 0, 0, []int{0}, nil)}}
	for _, pinned := range []bool{true, false} {
		_, err := topo.Place(0, pinned)
		assert.ErrorContains(t, err, "at least 1")
	}
}

// TestPinOrder covers mixes the recorded trees do not: classes and packages
// together, unknown classes, and unequal packages.
func TestPinOrder(t *testing.T) {
	c := func(pkg, id int, class CoreClass, capacity int) Core {
		return Core{Package: pkg, ID: id, Class: class, Capacity: capacity, CPUs: []int{pkg*100 + id}, Usable: []int{pkg*100 + id}}
	}
	tests := []struct {
		name  string
		cores []Core
		want  []int // CPUs in order
	}{
		{
			name:  "packages of unequal size",
			cores: []Core{c(0, 0, "", 0), c(0, 1, "", 0), c(0, 2, "", 0), c(1, 0, "", 0)},
			want:  []int{0, 100, 1, 2},
		},
		{
			name: "performance cores of both packages before any efficiency core",
			cores: []Core{
				c(0, 0, ClassEfficiency, 0), c(0, 1, ClassPerformance, 0),
				c(1, 0, ClassEfficiency, 0), c(1, 1, ClassPerformance, 0),
			},
			want: []int{1, 101, 0, 100},
		},
		{
			name:  "unknown class between performance and efficiency",
			cores: []Core{c(0, 0, ClassEfficiency, 0), c(0, 1, "", 0), c(0, 2, ClassPerformance, 0)},
			want:  []int{2, 1, 0},
		},
		{
			name:  "three capacities, biggest first",
			cores: []Core{c(0, 0, ClassEfficiency, 446), c(0, 1, ClassEfficiency, 870), c(0, 2, ClassPerformance, 1024)},
			want:  []int{2, 1, 0},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got []int
			for _, core := range pinOrder(tt.cores) {
				got = append(got, core.Usable[0])
			}
			assert.Equal(t, tt.want, got)
		})
	}
}
