package filepages

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
	"unsafe"

	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"
)

// resident returns the Rss and Anonymous bytes of the mapping starting at
// addr, from /proc/self/smaps.
func resident(t *testing.T, addr uintptr) (rss, anon int64) {
	t.Helper()
	data, err := os.ReadFile("/proc/self/smaps")
	require.NoError(t, err)
	maps, err := parseSmaps(data)
	require.NoError(t, err)
	for _, m := range maps {
		if m.start == addr {
			return m.rss, m.anon
		}
	}
	t.Fatalf("no mapping at %#x", addr)
	return 0, 0
}

// mapFile writes content to a new file and maps it; it returns the mapping
// and the file's path.
func mapFile(t *testing.T, content []byte, prot, flags int) ([]byte, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "data")
	require.NoError(t, os.WriteFile(path, content, 0o644))
	f, err := os.Open(path)
	require.NoError(t, err)
	defer f.Close()
	mem, err := unix.Mmap(int(f.Fd()), 0, len(content), prot, flags)
	require.NoError(t, err)
	t.Cleanup(func() { _ = unix.Munmap(mem) })
	return mem, path
}

// touch faults every page of mem in.
func touch(mem []byte) {
	for i := 0; i < len(mem); i += 4096 {
		sink += mem[i]
	}
}

func addr(b []byte) uintptr { return uintptr(unsafe.Pointer(unsafe.SliceData(b))) }

// sink keeps the reads that fault pages in from being optimized away.
var sink byte

func TestReleaseDropsReadOnlyFilePagesAndKeepsTheirContent(t *testing.T) {
	content := bytes.Repeat([]byte("tandem filepages "), 64<<10/17*4) // ~256 KiB
	mem, path := mapFile(t, content, unix.PROT_READ, unix.MAP_PRIVATE)
	other, _ := mapFile(t, content, unix.PROT_READ, unix.MAP_PRIVATE)
	touch(mem)
	touch(other)
	rss, _ := resident(t, addr(mem))
	require.Positive(t, rss, "the mapping should be resident after reading it")

	r, err := Release(path)
	require.NoError(t, err)
	require.Equal(t, 1, r.Mappings)
	require.Equal(t, r.Bytes, rss)
	rss, _ = resident(t, addr(mem))
	require.Zero(t, rss, "the mapping's pages should be released")
	require.True(t, bytes.Equal(content, mem), "released pages must read back as the file's content")
	rss, _ = resident(t, addr(other))
	require.Positive(t, rss, "a file that was not named keeps its pages")
}

func TestReleaseLeavesSharedMappings(t *testing.T) {
	mem, path := mapFile(t, bytes.Repeat([]byte{'s'}, 4*4096), unix.PROT_READ, unix.MAP_SHARED)
	touch(mem)
	r, err := Release(path)
	require.NoError(t, err)
	require.Zero(t, r.Mappings)
}

func TestReleaseNamesAMissingFileAndReleasesTheOthers(t *testing.T) {
	mem, path := mapFile(t, bytes.Repeat([]byte{'m'}, 4*4096), unix.PROT_READ, unix.MAP_PRIVATE)
	touch(mem)
	r, err := Release(filepath.Join(t.TempDir(), "gone"), path)
	require.ErrorContains(t, err, "gone")
	require.Equal(t, 1, r.Mappings)
}

func TestReleaseKeepsCopiedOnWritePages(t *testing.T) {
	// What RELRO looks like: private, written once (copied on write), then
	// made read-only. Releasing it would bring back the file's bytes.
	content := bytes.Repeat([]byte{'a'}, 3*4096)
	mem, path := mapFile(t, content, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE)
	mem[4096] = 'b'
	require.NoError(t, unix.Mprotect(mem, unix.PROT_READ))
	_, anon := resident(t, addr(mem))
	require.Positive(t, anon)

	_, err := Release(path)
	require.NoError(t, err)
	require.Equal(t, byte('b'), mem[4096], "a written private page must survive Release")
	rss, _ := resident(t, addr(mem))
	require.Positive(t, rss)
}

func TestParseSmaps(t *testing.T) {
	const smaps = `00400000-00402000 r--p 00000000 fe:01 10167054                           /usr/bin/tandem server (deleted)
Rss:                   8 kB
Anonymous:             0 kB
Swap:                  0 kB
VmFlags: rd mr mw me dw sd
7f0000000000-7f0000021000 rw-p 00000000 00:00 0 
Rss:                 132 kB
Anonymous:           132 kB
VmFlags: rd wr mr mw me nr sd
7f0000021000-7f0000022000 r--p 00002000 103:05 42                         /usr/lib/libpython3.14.so.1.0
Rss:                   4 kB
Anonymous:             0 kB
Swap:                  8 kB
7ffc00000000-7ffc00002000 r-xp 00000000 00:00 0                          [vdso]
Rss:                   8 kB
Anonymous:             0 kB
`
	maps, err := parseSmaps([]byte(smaps))
	require.NoError(t, err)
	require.Len(t, maps, 4)
	require.Equal(t, mapping{start: 0x400000, end: 0x402000, perms: "r--p", dev: unix.Mkdev(0xfe, 1), inode: 10167054,
		path: "/usr/bin/tandem server (deleted)", rss: 8 << 10, flags: []string{"rd", "mr", "mw", "me", "dw", "sd"}}, maps[0])
	require.True(t, releasable(maps[0]))
	require.False(t, releasable(maps[1]), "anonymous memory is never released")
	require.Equal(t, unix.Mkdev(0x103, 5), maps[2].dev)
	require.Equal(t, int64(8<<10), maps[2].swap)
	require.False(t, releasable(maps[2]), "a mapping with swapped-out pages may hold copied-on-write ones")
	require.False(t, releasable(maps[3]), "the vDSO is not a file")

	locked := maps[0]
	locked.flags = append(locked.flags, "lo")
	require.False(t, releasable(locked), "locked mappings stay")

	_, err = parseSmaps([]byte("Rss: 4 kB\n"))
	require.ErrorContains(t, err, "line 1")
	_, err = parseSmaps([]byte("zz-00 r--p 0 0 0 /x\n"))
	require.ErrorContains(t, err, "not a mapping")
}
