package policy

import (
	"errors"
	"fmt"
	"math"
	"math/big"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// Units are types so that a byte count can never be passed where a duration
// is expected, and so that each prints back in the form users wrote it.

// Size is a number of bytes. In a policy it is written as a whole number of
// bytes (1024) or a number with a unit: B, KB (1000), MB, GB, TB, or the
// binary KiB (1024), MiB, GiB, TiB, as in 64KiB or 1.5MiB. Fractions are
// allowed only where they come to a whole number of bytes.
type Size int64

// Duration is a length of time in Go syntax: 100ms, 5s, 1m30s, 2h. A policy
// never accepts a bare number for a duration, because "timeout: 5" could
// mean seconds or milliseconds.
type Duration time.Duration

// Rate is a number of events per period, written as COUNT/UNIT with the unit
// s (second), m (minute) or h (hour): 100/s, 20/m, 5/h.
type Rate struct {
	// Count is how many events are allowed in each Per.
	Count int
	// Per is the period: one second, minute or hour.
	Per Duration
}

// sizeUnits lists the accepted units, largest first within each family, in
// the order error messages show them.
var sizeUnits = []struct {
	name  string
	bytes int64
}{
	{"B", 1},
	{"KB", 1000},
	{"MB", 1000 * 1000},
	{"GB", 1000 * 1000 * 1000},
	{"TB", 1000 * 1000 * 1000 * 1000},
	{"KiB", 1 << 10},
	{"MiB", 1 << 20},
	{"GiB", 1 << 30},
	{"TiB", 1 << 40},
}

// The syntax patterns below are the same strings as the patterns of the
// matching $defs in schema.json (a test keeps them equal), so an editor and
// tandem check accept exactly the same spellings.
var (
	sizeSyntax     = regexp.MustCompile(`^[0-9]+(\.[0-9]+)? ?(B|KB|MB|GB|TB|KiB|MiB|GiB|TiB)?$`)
	durationSyntax = regexp.MustCompile(`^([0-9]+(\.[0-9]+)?(ns|us|µs|ms|s|m|h))+$`)
	rateSyntax     = regexp.MustCompile(`^[0-9]+/(s|m|h)$`)
)

func sizeUnitNames() string {
	names := make([]string, len(sizeUnits))
	for i, u := range sizeUnits {
		names[i] = u.name
	}
	return strings.Join(names, ", ")
}

// ParseSize parses a size such as 64KiB, 1.5MiB, 1KB or 512 (bytes).
// Surrounding spaces and one space before the unit are allowed.
func ParseSize(s string) (Size, error) {
	text := strings.TrimSpace(s)
	if text == "" {
		return 0, errors.New("empty size")
	}
	if strings.HasPrefix(text, "-") {
		return 0, errors.New("a size cannot be negative")
	}
	if !sizeSyntax.MatchString(text) {
		return 0, explainSizeSyntax(text)
	}
	number := strings.TrimRight(text, "BKMGTi ")
	unit := strings.TrimSpace(text[len(number):])
	mult := int64(1)
	for _, u := range sizeUnits {
		if u.name == unit {
			mult = u.bytes
		}
	}
	// Exact rational arithmetic: 1.5MiB is 1572864 bytes, 0.3B is refused
	// instead of being silently rounded.
	r, ok := new(big.Rat).SetString(number)
	if !ok {
		return 0, fmt.Errorf("%q is not a number", number)
	}
	r.Mul(r, new(big.Rat).SetInt64(mult))
	if !r.IsInt() {
		return 0, fmt.Errorf("%s is not a whole number of bytes", text)
	}
	if !r.Num().IsInt64() {
		return 0, fmt.Errorf("%s is too large", text)
	}
	return Size(r.Num().Int64()), nil
}

// explainSizeSyntax says what is wrong with a size that does not match the
// syntax, most likely a unit tandem does not know.
func explainSizeSyntax(text string) error {
	i := strings.IndexFunc(text, func(r rune) bool { return (r < '0' || r > '9') && r != '.' })
	if i <= 0 {
		return fmt.Errorf("a size starts with a number")
	}
	unit := strings.TrimSpace(text[i:])
	for _, u := range sizeUnits {
		if strings.EqualFold(u.name, unit) {
			return fmt.Errorf("unknown unit %q (did you mean %q? units are case-sensitive)", unit, u.name)
		}
	}
	return fmt.Errorf("unknown unit %q (use one of %s)", unit, sizeUnitNames())
}

// String gives the size back in the largest unit that represents it
// exactly, preferring binary units: 1048576 is 1MiB, 1000 is 1KB, 1500 is
// 1500B.
func (s Size) String() string {
	if s == 0 {
		return "0B"
	}
	for _, family := range [][]int{{8, 7, 6, 5}, {4, 3, 2, 1}} {
		for _, i := range family {
			u := sizeUnits[i]
			if int64(s)%u.bytes == 0 {
				return strconv.FormatInt(int64(s)/u.bytes, 10) + u.name
			}
		}
	}
	return strconv.FormatInt(int64(s), 10) + "B"
}

// MarshalText gives the canonical form, so JSON output (such as /status)
// shows 1MiB rather than 1048576.
func (s Size) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// UnmarshalText accepts everything ParseSize accepts.
func (s *Size) UnmarshalText(b []byte) error {
	v, err := ParseSize(string(b))
	if err != nil {
		return err
	}
	*s = v
	return nil
}

// ParseDuration parses a Go duration such as 100ms, 5s or 1m30s. Negative
// durations and bare numbers are refused.
func ParseDuration(s string) (Duration, error) {
	text := strings.TrimSpace(s)
	if text == "" {
		return 0, errors.New("empty duration")
	}
	if strings.HasPrefix(text, "-") {
		return 0, errors.New("a duration cannot be negative")
	}
	if !durationSyntax.MatchString(text) {
		return 0, explainDurationSyntax(text)
	}
	d, err := time.ParseDuration(text)
	if err != nil {
		// The syntax matched, so only the range can be wrong.
		return 0, fmt.Errorf("%s is too long", text)
	}
	return Duration(d), nil
}

func explainDurationSyntax(text string) error {
	if _, err := strconv.ParseFloat(text, 64); err == nil {
		return fmt.Errorf("add a unit, like %ss or %sms (units: ns, us, ms, s, m, h)", text, text)
	}
	i := strings.IndexFunc(text, func(r rune) bool { return (r < '0' || r > '9') && r != '.' })
	if i > 0 {
		number, unit := text[:i], strings.ToLower(strings.TrimSpace(text[i:]))
		switch unit {
		case "d", "day", "days":
			return fmt.Errorf("days are not a duration unit: use hours, like %sh", daysInHours(number))
		case "sec", "secs", "second", "seconds":
			return fmt.Errorf("write seconds as s, like %ss", number)
		case "min", "mins", "minute", "minutes":
			return fmt.Errorf("write minutes as m, like %sm", number)
		case "hr", "hrs", "hour", "hours":
			return fmt.Errorf("write hours as h, like %sh", number)
		case "msec", "millisecond", "milliseconds":
			return fmt.Errorf("write milliseconds as ms, like %sms", number)
		}
	}
	return errors.New("use Go duration syntax with units ns, us, ms, s, m, h, like 100ms or 1m30s")
}

// daysInHours turns the number of days in "2d" into hours for the
// suggestion.
func daysInHours(n string) string {
	f, err := strconv.ParseFloat(n, 64)
	if err != nil {
		return "24"
	}
	return strconv.FormatFloat(f*24, 'f', -1, 64)
}

// String gives the duration in Go syntax without zero components: 2h, not
// 2h0m0s.
func (d Duration) String() string {
	s := time.Duration(d).String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}

// MarshalText gives the canonical form.
func (d Duration) MarshalText() ([]byte, error) { return []byte(d.String()), nil }

// UnmarshalText accepts everything ParseDuration accepts.
func (d *Duration) UnmarshalText(b []byte) error {
	v, err := ParseDuration(string(b))
	if err != nil {
		return err
	}
	*d = v
	return nil
}

var rateUnits = map[string]Duration{
	"s": Duration(time.Second),
	"m": Duration(time.Minute),
	"h": Duration(time.Hour),
}

// rateUnitSpellings maps what people write to the unit tandem expects.
var rateUnitSpellings = map[string]string{
	"sec": "s", "second": "s", "seconds": "s", "1s": "s",
	"min": "m", "minute": "m", "minutes": "m", "1m": "m",
	"hr": "h", "hour": "h", "hours": "h", "1h": "h",
}

// ParseRate parses a rate such as 100/s, 20/m or 5/h.
func ParseRate(s string) (Rate, error) {
	text := strings.TrimSpace(s)
	if text == "" {
		return Rate{}, errors.New("empty rate")
	}
	if !rateSyntax.MatchString(text) {
		count, unit, found := strings.Cut(text, "/")
		if !found {
			return Rate{}, errors.New("write COUNT/UNIT with the unit s, m or h, like 100/s")
		}
		if _, err := strconv.ParseUint(count, 10, 64); err != nil {
			return Rate{}, fmt.Errorf("%q is not a whole number of requests", count)
		}
		if want, ok := rateUnitSpellings[strings.ToLower(unit)]; ok {
			return Rate{}, fmt.Errorf("unknown unit %q (did you mean %s/%s?)", unit, count, want)
		}
		return Rate{}, fmt.Errorf("unknown unit %q (use s, m or h, like 100/s)", unit)
	}
	count, unit, _ := strings.Cut(text, "/")
	n, err := strconv.Atoi(count)
	if err != nil || n > math.MaxInt32 {
		return Rate{}, fmt.Errorf("%s is too large", count)
	}
	return Rate{Count: n, Per: rateUnits[unit]}, nil
}

// PerSecond is the steady rate in events per second, the unit token-bucket
// limiters (golang.org/x/time/rate) take.
func (r Rate) PerSecond() float64 {
	if r.Per <= 0 {
		return 0
	}
	return float64(r.Count) / time.Duration(r.Per).Seconds()
}

// IsZero reports whether no rate was set.
func (r Rate) IsZero() bool { return r.Count == 0 && r.Per == 0 }

// String gives the rate as written in a policy, like 100/s; "" for the zero
// Rate.
func (r Rate) String() string {
	if r.IsZero() {
		return ""
	}
	for unit, per := range rateUnits {
		if per == r.Per {
			return strconv.Itoa(r.Count) + "/" + unit
		}
	}
	// Not a period a policy can spell; still say what it is.
	return strconv.Itoa(r.Count) + "/" + r.Per.String()
}

// MarshalText gives the canonical form.
func (r Rate) MarshalText() ([]byte, error) { return []byte(r.String()), nil }

// UnmarshalText accepts everything ParseRate accepts.
func (r *Rate) UnmarshalText(b []byte) error {
	v, err := ParseRate(string(b))
	if err != nil {
		return err
	}
	*r = v
	return nil
}
