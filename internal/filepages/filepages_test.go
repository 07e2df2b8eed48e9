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

func mapFile(t *testing.T, content []byte, prot int) []byte {
	t.Helper()
	path := filepath.Join(t.TempDir(), "data")
	require.NoError(t, os.WriteFile(path, content, 0o644))
	f, err := os.Open(path)
	require.NoError(t, err)
	defer f.Close()
	mem, err := unix.Mmap(int(f.Fd()), 0, len(content), prot, unix.MAP_PRIVATE)
	require.NoError(t, err)
	t.Cleanup(func() { _ = unix.Munmap(mem) })
	return mem
}

func addr(b []byte) uintptr { return uintptr(unsafe.Pointer(unsafe.SliceData(b))) }

// sink keeps the reads that fault pages in from being optimized away.
var sink byte

func TestReleaseDropsReadOnlyFilePagesAndKeepsTheirContent(t *testing.T) {
	content := bytes.Repeat([]byte("tandem filepages "), 64<<10/17*4) // ~256 KiB
	mem := mapFile(t, content, unix.PROT_READ)
	for i := 0; i < len(mem); i += 4096 {
		sink += mem[i] // fault every page in
	}
	rss, _ := resident(t, addr(mem))
	require.Positive(t, rss, "the mapping should be resident after reading it")

	r, err := Release()
	require.NoError(t, err)
	require.Positive(t, r.Mappings)
	require.GreaterOrEqual(t, r.Bytes, rss)
	rss, _ = resident(t, addr(mem))
	require.Zero(t, rss, "the mapping's pages should be released")
	require.True(t, bytes.Equal(content, mem), "released pages must read back as the file's content")
}

func TestReleaseKeepsCopiedOnWritePages(t *testing.T) {
	// What RELRO looks like: private, written once (copied on write), then
	// made read-only. Releasing it would bring back the file's bytes.
	content := bytes.Repeat([]byte{'a'}, 3*4096)
	mem := mapFile(t, content, unix.PROT_READ|unix.PROT_WRITE)
	mem[4096] = 'b'
	require.NoError(t, unix.Mprotect(mem, unix.PROT_READ))
	_, anon := resident(t, addr(mem))
	require.Positive(t, anon)

	_, err := Release()
	require.NoError(t, err)
	require.Equal(t, byte('b'), mem[4096], "a written private page must survive Release")
	rss, _ := resident(t, addr(mem))
	require.Positive(t, rss)
}

func TestParseSmaps(t *testing.T) {
	const smaps = `00400000-00402000 r--p 00000000 fe:00 10167054                           /usr/bin/tandem server
Rss:                   8 kB
Anonymous:             0 kB
VmFlags: rd mr mw me dw sd
7f0000000000-7f0000021000 rw-p 00000000 00:00 0 
Rss:                 132 kB
Anonymous:           132 kB
VmFlags: rd wr mr mw me nr sd
`
	maps, err := parseSmaps([]byte(smaps))
	require.NoError(t, err)
	require.Len(t, maps, 2)
	require.Equal(t, mapping{start: 0x400000, end: 0x402000, perms: "r--p", inode: 10167054,
		path: "/usr/bin/tandem server", rss: 8 << 10, flags: []string{"rd", "mr", "mw", "me", "dw", "sd"}}, maps[0])
	require.True(t, releasable(maps[0]))
	require.False(t, releasable(maps[1]), "anonymous memory is never released")

	locked := maps[0]
	locked.flags = append(locked.flags, "lo")
	require.False(t, releasable(locked), "locked mappings stay")

	_, err = parseSmaps([]byte("Rss: 4 kB\n"))
	require.ErrorContains(t, err, "line 1")
	_, err = parseSmaps([]byte("zz-00 r--p 0 0 0 /x\n"))
	require.ErrorContains(t, err, "not a mapping")
}
