package topology

import (
	"fmt"
	"math/bits"
	"strconv"
	"strings"
)

// maxCPU is the highest logical CPU number ParseCPUList accepts. Linux
// builds top out at 8192 CPUs; the margin is for the future, and the bound
// keeps a corrupt file such as "0-4000000000" from allocating gigabytes.
const maxCPU = 1<<16 - 1

// ParseCPUList parses the kernel's CPU list syntax, as found in sysfs
// (online, core_cpus_list) and /proc (Cpus_allowed_list): comma-separated
// entries, each a CPU ("5"), a range ("0-3") or a range with a group
// pattern ("0-15:2/4" means the first 2 of every 4, i.e. 0,1,4,5,8,9,12,13).
// CPU numbers above 65535 are rejected. Surrounding whitespace, including
// sysfs's trailing newline, is ignored and an empty list is valid. The
// result is sorted and free of duplicates; nil for an empty list.
func ParseCPUList(s string) ([]int, error) {
	list := strings.TrimSpace(s)
	if list == "" {
		return nil, nil
	}
	var set cpuSet
	for entry := range strings.SplitSeq(list, ",") {
		if err := set.addEntry(strings.TrimSpace(entry)); err != nil {
			return nil, fmt.Errorf("cpu list %q: %w", list, err)
		}
	}
	return set.list(), nil
}

// FormatCPUList writes cpus in the kernel's CPU list syntax with runs
// collapsed ("0-3,8-11"), so that output reads like the sysfs files the
// operator may compare it with. cpus need not be sorted or unique.
func FormatCPUList(cpus []int) string {
	var set cpuSet
	for _, c := range cpus {
		if c >= 0 {
			set.add(c)
		}
	}
	var b strings.Builder
	list := set.list()
	for i := 0; i < len(list); {
		j := i
		for j+1 < len(list) && list[j+1] == list[j]+1 {
			j++
		}
		if b.Len() > 0 {
			b.WriteByte(',')
		}
		b.WriteString(strconv.Itoa(list[i]))
		if j > i {
			b.WriteByte('-')
			b.WriteString(strconv.Itoa(list[j]))
		}
		i = j + 1
	}
	return b.String()
}

// cpuSet is a bitmap, so that overlapping or repeated ranges cost no more
// memory than the highest CPU number they name.
type cpuSet struct{ words []uint64 }

func (s *cpuSet) add(cpu int) {
	w := cpu / 64
	for len(s.words) <= w {
		s.words = append(s.words, 0)
	}
	s.words[w] |= 1 << (cpu % 64)
}

func (s *cpuSet) list() []int {
	var out []int
	for w, word := range s.words {
		for word != 0 {
			b := bits.TrailingZeros64(word)
			out = append(out, w*64+b)
			word &^= 1 << b
		}
	}
	return out
}

// addEntry adds one comma-separated entry: "N", "A-B" or "A-B:USED/GROUP".
func (s *cpuSet) addEntry(entry string) error {
	if entry == "" {
		return fmt.Errorf("empty entry")
	}
	rng, pattern, hasPattern := strings.Cut(entry, ":")
	lo, hi := 0, 0
	if a, b, isRange := strings.Cut(rng, "-"); isRange {
		var err error
		if lo, err = parseCPU(a); err != nil {
			return err
		}
		if hi, err = parseCPU(b); err != nil {
			return err
		}
		if lo > hi {
			return fmt.Errorf("range %q runs backwards", rng)
		}
	} else {
		if hasPattern {
			return fmt.Errorf("group pattern %q needs a range before it", entry)
		}
		cpu, err := parseCPU(rng)
		if err != nil {
			return err
		}
		s.add(cpu)
		return nil
	}
	used, group := 1, 1
	if hasPattern {
		u, g, ok := strings.Cut(pattern, "/")
		if !ok {
			return fmt.Errorf("group pattern %q is not USED/GROUP", pattern)
		}
		var err error
		if used, err = parseCPU(u); err != nil {
			return err
		}
		if group, err = parseCPU(g); err != nil {
			return err
		}
		if used < 1 || group < 1 || used > group {
			return fmt.Errorf("group pattern %q needs 1 <= USED <= GROUP", pattern)
		}
	}
	for start := lo; start <= hi; start += group {
		for cpu := start; cpu < start+used && cpu <= hi; cpu++ {
			s.add(cpu)
		}
	}
	return nil
}

// parseCPU accepts only plain decimal digits: strconv.Atoi would also take
// signs, which the kernel never writes and which would hide a misparse.
func parseCPU(s string) (int, error) {
	if s == "" {
		return 0, fmt.Errorf("missing CPU number")
	}
	for _, r := range s {
		if r < '0' || r > '9' {
			return 0, fmt.Errorf("%q is not a CPU number", s)
		}
	}
	n, err := strconv.ParseUint(s, 10, 32)
	if err != nil || n > maxCPU {
		return 0, fmt.Errorf("CPU %s is above the highest supported, %d", s, maxCPU)
	}
	return int(n), nil
}
