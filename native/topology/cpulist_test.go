package topology

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestParseCPUList(t *testing.T) {
	tests := []struct {
		in      string
		want    []int
		wantErr string
	}{
		{in: "", want: nil},
		{in: "\n", want: nil},
		{in: "5", want: []int{5}},
		{in: "5\n", want: []int{5}},
		{in: "0-3,8-11\n", want: []int{0, 1, 2, 3, 8, 9, 10, 11}},
		{in: " 0 - 1 ", wantErr: `"0 " is not a CPU number`},
		{in: "\t0-1 , 4\n", want: []int{0, 1, 4}},
		{in: "3,1,2,1", want: []int{1, 2, 3}},
		{in: "0-3,2-5", want: []int{0, 1, 2, 3, 4, 5}},
		{in: "7-7", want: []int{7}},
		{in: "0-15:2/4", want: []int{0, 1, 4, 5, 8, 9, 12, 13}},
		{in: "0-6:2/4", want: []int{0, 1, 4, 5}},
		{in: "0-4:2/4", want: []int{0, 1, 4}},
		{in: "63-65", want: []int{63, 64, 65}},
		{in: "65535", want: []int{65535}},
		{in: "65536", wantErr: "above the highest supported"},
		{in: "99999999999999999999", wantErr: "above the highest supported"},
		{in: "3-1", wantErr: "runs backwards"},
		{in: "0-", wantErr: "missing CPU number"},
		{in: "-3", wantErr: "missing CPU number"},
		{in: "+3", wantErr: `"+3" is not a CPU number`},
		{in: "a", wantErr: `"a" is not a CPU number`},
		{in: "0,,1", wantErr: "empty entry"},
		{in: "0,", wantErr: "empty entry"},
		{in: "1-2-3", wantErr: `"2-3" is not a CPU number`},
		{in: "0-7:3/2", wantErr: "needs 1 <= USED <= GROUP"},
		{in: "0-7:0/2", wantErr: "needs 1 <= USED <= GROUP"},
		{in: "0-7:2", wantErr: "is not USED/GROUP"},
		{in: "4:1/2", wantErr: "needs a range before it"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParseCPUList(tt.in)
			if tt.wantErr != "" {
				require.Error(t, err)
				assert.ErrorContains(t, err, tt.wantErr)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.want, got)
		})
	}
}

func TestFormatCPUList(t *testing.T) {
	tests := []struct {
		in   []int
		want string
	}{
		{nil, ""},
		{[]int{5}, "5"},
		{[]int{0, 1, 2, 3, 8, 9, 10, 11}, "0-3,8-11"},
		{[]int{3, 1, 2, 2, 7}, "1-3,7"},
		{[]int{0, 2, 4}, "0,2,4"},
		{[]int{-1, 0}, "0"},
	}
	for _, tt := range tests {
		t.Run(tt.want, func(t *testing.T) {
			assert.Equal(t, tt.want, FormatCPUList(tt.in))
		})
	}
}

func FuzzParseCPUList(f *testing.F) {
	for _, seed := range []string{"", "0", "0-3,8-11\n", "0-15:2/4", "3-1", "65535", "1,,2", " 4 ", "0-65535:1/65535"} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, s string) {
		cpus, err := ParseCPUList(s)
		if err != nil {
			return
		}
		for i, c := range cpus {
			if c < 0 || c > maxCPU || (i > 0 && c <= cpus[i-1]) {
				t.Fatalf("ParseCPUList(%q) = %v: not sorted, unique and in range", s, cpus)
			}
		}
		again, err := ParseCPUList(FormatCPUList(cpus))
		if err != nil || len(again) != len(cpus) {
			t.Fatalf("round trip of %q through %q gave %v, %v", s, FormatCPUList(cpus), again, err)
		}
		for i := range cpus {
			if again[i] != cpus[i] {
				t.Fatalf("round trip of %q gave %v, want %v", s, again, cpus)
			}
		}
	})
}
