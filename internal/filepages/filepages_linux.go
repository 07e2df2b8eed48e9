package filepages

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// mapping is one entry of /proc/self/smaps.
type mapping struct {
	start, end      uintptr
	perms           string
	dev             uint64 // as stat's st_dev
	inode           uint64
	path            string
	rss, anon, swap int64 // bytes
	flags           []string
}

// file is a file's identity: its device and inode.
type file struct{ dev, inode uint64 }

// Release drops the process's resident pages of the private, read-only
// mappings of files (see the package comment) that hold nothing but the
// file's content. Name only files the process keeps mapped for its whole
// life, such as its executable and the shared libraries it loaded at
// start: a mapping that goes away between the read of /proc/self/smaps and
// the release could have its addresses reused. A file that cannot be
// found is reported in the error and the others are still released. It
// costs a read of /proc/self/smaps and one madvise per mapping.
func Release(files ...string) (Released, error) {
	want := make(map[file]bool, len(files))
	var missing []error
	for _, f := range files {
		var st unix.Stat_t
		if err := unix.Stat(f, &st); err != nil {
			missing = append(missing, fmt.Errorf("releasing the pages of %s: %w", f, err))
			continue
		}
		want[file{uint64(st.Dev), st.Ino}] = true
	}
	if len(want) == 0 {
		return Released{}, errors.Join(missing...)
	}
	data, err := os.ReadFile("/proc/self/smaps")
	if err != nil {
		return Released{}, fmt.Errorf("reading /proc/self/smaps: %w", err)
	}
	maps, err := parseSmaps(data)
	if err != nil {
		return Released{}, err
	}
	var r Released
	for _, m := range maps {
		if !want[file{m.dev, m.inode}] || !releasable(m) {
			continue
		}
		// madvise(MADV_DONTNEED) on a private file mapping unmaps its pages;
		// the next access maps them again from the file (page cache).
		if _, _, errno := unix.Syscall(unix.SYS_MADVISE, m.start, m.end-m.start, unix.MADV_DONTNEED); errno != 0 {
			continue // a mapping that changed or went away since smaps was read
		}
		r.Mappings++
		r.Bytes += m.rss
	}
	return r, errors.Join(missing...)
}

// releasable says whether dropping m's pages loses nothing.
func releasable(m mapping) bool {
	if len(m.perms) != 4 || m.perms[0] != 'r' || m.perms[1] != '-' || m.perms[3] != 'p' {
		return false // writable, unreadable or shared
	}
	if m.rss == 0 || m.anon != 0 || m.swap != 0 || m.inode == 0 || !strings.HasPrefix(m.path, "/") {
		return false // nothing resident, copied-on-write pages (in memory or swapped out), or not a file
	}
	for _, p := range []string{"/dev/", "/memfd:", "/SYSV"} {
		if strings.HasPrefix(m.path, p) {
			return false
		}
	}
	for _, f := range m.flags {
		switch f {
		// locked, I/O or raw PFN, hugetlb, userfaultfd-registered
		case "lo", "io", "pf", "ht", "um", "uw", "ui":
			return false
		}
	}
	return true
}

// parseSmaps reads the smaps format: a header line per mapping
// ("start-end perms offset dev inode [path]") followed by "Key: value"
// lines.
func parseSmaps(data []byte) ([]mapping, error) {
	var maps []mapping
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 0, 4096), 1<<20)
	for line := 1; sc.Scan(); line++ {
		text := sc.Text()
		fields := strings.Fields(text)
		if len(fields) == 0 {
			continue
		}
		if key, ok := strings.CutSuffix(fields[0], ":"); ok {
			if len(maps) == 0 {
				return nil, fmt.Errorf("/proc/self/smaps line %d: %q before any mapping", line, key)
			}
			m := &maps[len(maps)-1]
			switch key {
			case "Rss", "Anonymous", "Swap":
				if len(fields) < 2 {
					return nil, fmt.Errorf("/proc/self/smaps line %d: %s has no value", line, key)
				}
				kb, err := strconv.ParseInt(fields[1], 10, 64)
				if err != nil {
					return nil, fmt.Errorf("/proc/self/smaps line %d: %s: %w", line, key, err)
				}
				switch key {
				case "Rss":
					m.rss = kb << 10
				case "Anonymous":
					m.anon = kb << 10
				default:
					m.swap = kb << 10
				}
			case "VmFlags":
				m.flags = fields[1:]
			}
			continue
		}
		if len(fields) < 5 {
			return nil, fmt.Errorf("/proc/self/smaps line %d: not a mapping: %q", line, text)
		}
		lo, hi, ok := strings.Cut(fields[0], "-")
		start, err1 := strconv.ParseUint(lo, 16, 64)
		end, err2 := strconv.ParseUint(hi, 16, 64)
		inode, err3 := strconv.ParseUint(fields[4], 10, 64)
		major, minor, ok2 := strings.Cut(fields[3], ":")
		maj, err4 := strconv.ParseUint(major, 16, 32)
		min, err5 := strconv.ParseUint(minor, 16, 32)
		if !ok || !ok2 || err1 != nil || err2 != nil || err3 != nil || err4 != nil || err5 != nil || end < start {
			return nil, fmt.Errorf("/proc/self/smaps line %d: not a mapping: %q", line, text)
		}
		m := mapping{start: uintptr(start), end: uintptr(end), perms: fields[1],
			dev: unix.Mkdev(uint32(maj), uint32(min)), inode: inode}
		if len(fields) > 5 {
			// The path is the rest of the line; it may hold spaces.
			m.path = strings.Join(fields[5:], " ")
		}
		maps = append(maps, m)
	}
	return maps, sc.Err()
}
