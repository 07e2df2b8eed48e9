package host

import (
	"github.com/tandemhost/tandem/policy"
)

// notYet ends every message about a feature the policy language has but
// this version of the server cannot serve.
const notYet = "is not supported by this version of tandem yet"

// Unsupported lists what pol uses that this version cannot serve, one
// problem per use in FILE:LINE:COL form, sorted by position; nil when the
// server can serve all of it. New refuses such a policy rather than serve
// it with parts missing, and `tandem check` reports the same list so that
// a policy it accepts also serves. Only the admin listener (server.admin)
// is left.
func Unsupported(pol *policy.Policy) policy.Problems {
	if pol.Server.Admin != "" {
		return policy.Problems{pol.Problem(pol.Server.AdminPos, "server.admin", "the admin listener %s", notYet)}
	}
	return nil
}
