package guest

import "bytes"

// The host writes a value into a guest buffer only when it fits, and
// otherwise returns its length so that the guest can grow the buffer and
// ask again. scratch is the buffer every read starts with: large enough
// for nearly every method, URI and header, so a read is one call and one
// copy. A larger one is kept for the next read up to keepScratch.
var scratch = make([]byte, 2048)

const keepScratch = 64 << 10

// fetch calls get until the value fits and returns the bytes written with
// the raw result. The length is the result's low 32 bits, which holds for
// both a plain length (uint32) and a count<<32|length (uint64). The bytes
// are valid until the next fetch.
func fetch[T uint32 | uint64](get func(buf []byte) T) ([]byte, T) {
	buf := scratch
	for {
		r := get(buf)
		n := uint32(r)
		if n <= uint32(len(buf)) {
			return buf[:n], r
		}
		buf = make([]byte, n)
		if n <= keepScratch {
			scratch = buf
		}
	}
}

// fetchString is fetch for a single value.
func fetchString(get func(buf []byte) uint32) string {
	b, _ := fetch(get)
	return string(b)
}

// fetchList is fetch for a list of NUL-terminated values. The count in the
// result's high 32 bits only sizes the slice: the NULs in the bytes decide.
func fetchList(get func(buf []byte) uint64) []string {
	b, countLen := fetch(get)
	count := int(countLen >> 32)
	if count == 0 || len(b) == 0 {
		return nil
	}
	list := make([]string, 0, min(count, len(b)))
	for len(b) > 0 {
		i := bytes.IndexByte(b, 0)
		if i < 0 { // a host that left off the last NUL
			i = len(b)
		}
		list = append(list, string(b[:i]))
		b = b[min(i+1, len(b)):]
	}
	return list
}

// fetchFirst is fetchList for its first value only, or "" when it is empty.
func fetchFirst(get func(buf []byte) uint64) string {
	b, countLen := fetch(get)
	if countLen>>32 == 0 {
		return ""
	}
	if i := bytes.IndexByte(b, 0); i >= 0 {
		b = b[:i]
	}
	return string(b)
}
