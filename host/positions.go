package host

import (
	"crypto/sha256"
	"encoding/hex"
	"os"

	"go.yaml.in/yaml/v3"

	"github.com/tandemhost/tandem/policy"
)

// keyFinder finds where a key is written in the policy file, for the few
// settings whose position the compiled policy does not keep (server.admin,
// the sandbox section, a route's body_schema). It reads the file again and
// trusts it only if its digest is still the policy's, so a file edited since
// it was loaded never yields a wrong position: the fallback is used instead.
type keyFinder struct {
	root *yaml.Node // the document's top mapping; nil when unusable
}

func newKeyFinder(pol *policy.Policy) keyFinder {
	data, err := os.ReadFile(pol.File)
	if err != nil {
		return keyFinder{}
	}
	sum := sha256.Sum256(data)
	if hex.EncodeToString(sum[:]) != pol.Digest {
		return keyFinder{}
	}
	var doc yaml.Node
	if yaml.Unmarshal(data, &doc) != nil || doc.Kind != yaml.DocumentNode || len(doc.Content) == 0 {
		return keyFinder{}
	}
	return keyFinder{root: doc.Content[0]}
}

// find follows path (mapping keys as strings, list indexes as ints) and
// returns the node of the last key, or nil.
func (k keyFinder) find(path ...any) *yaml.Node {
	n := k.root
	var key *yaml.Node
	for _, step := range path {
		if n == nil {
			return nil
		}
		switch s := step.(type) {
		case string:
			if n.Kind != yaml.MappingNode {
				return nil
			}
			var next *yaml.Node
			for i := 0; i+1 < len(n.Content); i += 2 {
				if n.Content[i].Value == s {
					key, next = n.Content[i], n.Content[i+1]
					break
				}
			}
			if next == nil {
				return nil
			}
			n = next
		case int:
			if n.Kind != yaml.SequenceNode || s < 0 || s >= len(n.Content) {
				return nil
			}
			key, n = n.Content[s], n.Content[s]
		default:
			return nil
		}
	}
	return key
}

// has reports whether the file writes the key at path.
func (k keyFinder) has(path ...any) bool { return k.find(path...) != nil }

// pos is where the key at path is written, or fallback.
func (k keyFinder) pos(fallback policy.Pos, path ...any) policy.Pos {
	if n := k.find(path...); n != nil {
		return policy.Pos{Line: n.Line, Col: n.Column}
	}
	return fallback
}
