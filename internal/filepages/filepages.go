// Package filepages gives back the pages of read-only file mappings that a
// process touched while it started and may not touch again.
//
// A server that embeds its own runtime faults in pages it needs only at
// start-up: tandem's binary carries CPython's files (read once, at the
// first extraction) next to its Go tables, and every new interpreter runs
// libpython's start-up code and reads its frozen modules. On file systems
// with large page-cache folios one read maps a whole folio (up to 2 MiB)
// into the process. Release drops those mappings; the pages the process
// still uses come back on their next access, from the page cache, and
// the rest stop counting in its resident set and become easy to reclaim.
//
// Only mappings of the files the caller names are released (the binary and
// libpython: files a process never unmaps, so an address read from smaps
// cannot have been reused for other memory by the time it is released),
// and of those only private, read-only ones whose every page is the file's:
// none anonymous, none swapped out. Relocated read-only data (RELRO) holds
// copied-on-write pages and is kept.
package filepages

// Released says what Release gave back.
type Released struct {
	// Mappings is the number of mappings released.
	Mappings int
	// Bytes is how much of them was resident before.
	Bytes int64
}
