package sandbox

import "runtime/debug"

// WazeroVersion is the version of wazero linked into this binary, or ""
// when the binary carries no module information.
func WazeroVersion() string {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return ""
	}
	for _, d := range bi.Deps {
		if d.Path == "github.com/tetratelabs/wazero" {
			if d.Replace != nil {
				return d.Replace.Version
			}
			return d.Version
		}
	}
	return ""
}
