package policy

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestParseSize(t *testing.T) {
	tests := []struct {
		in      string
		want    Size
		wantErr string
	}{
		{in: "512B", want: 512},
		{in: "512", want: 512},
		{in: "1KB", want: 1000},
		{in: "1MB", want: 1000 * 1000},
		{in: "1GB", want: 1000 * 1000 * 1000},
		{in: "64KiB", want: 64 << 10},
		{in: "1MiB", want: 1 << 20},
		{in: "16MiB", want: 16 << 20},
		{in: "1GiB", want: 1 << 30},
		{in: "2TiB", want: 2 << 40},
		{in: "1.5MiB", want: 1572864},
		{in: "0.5KB", want: 500},
		{in: "64 KiB", want: 64 << 10},
		{in: " 1MiB ", want: 1 << 20},
		{in: "0", want: 0},
		{in: "", wantErr: "empty size"},
		{in: "-1MiB", wantErr: "a size cannot be negative"},
		{in: "1.5B", wantErr: "1.5B is not a whole number of bytes"},
		{in: "0.0001KiB", wantErr: "0.0001KiB is not a whole number of bytes"},
		{in: "12 parsecs", wantErr: `unknown unit "parsecs" (use one of B, KB, MB, GB, TB, KiB, MiB, GiB, TiB)`},
		{in: "1mib", wantErr: `unknown unit "mib" (did you mean "MiB"? units are case-sensitive)`},
		{in: "1M", wantErr: `unknown unit "M" (use one of B, KB, MB, GB, TB, KiB, MiB, GiB, TiB)`},
		{in: "MiB", wantErr: "a size starts with a number"},
		{in: "1e6", wantErr: `unknown unit "e6" (use one of B, KB, MB, GB, TB, KiB, MiB, GiB, TiB)`},
		{in: "99999999999TiB", wantErr: "99999999999TiB is too large"},
		{in: "9223372036854775808", wantErr: "9223372036854775808 is too large"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParseSize(tt.in)
			if tt.wantErr != "" {
				assert.EqualError(t, err, tt.wantErr)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.want, got)
		})
	}
}

func TestSizeString(t *testing.T) {
	tests := []struct {
		in   Size
		want string
	}{
		{0, "0B"},
		{1, "1B"},
		{512, "512B"},
		{1000, "1KB"},
		{1024, "1KiB"},
		{1500, "1500B"},
		{1536, "1536B"},
		{64 << 10, "64KiB"},
		{1 << 20, "1MiB"},
		{1572864, "1536KiB"},
		{3 * 1000 * 1000, "3MB"},
		{16 << 30, "16GiB"},
		{1 << 40, "1TiB"},
	}
	for _, tt := range tests {
		assert.Equal(t, tt.want, tt.in.String())
		back, err := ParseSize(tt.want)
		require.NoError(t, err)
		assert.Equal(t, tt.in, back, "String gives back a form that parses to the same size")
	}
}

func TestParseDuration(t *testing.T) {
	tests := []struct {
		in      string
		want    time.Duration
		wantErr string
	}{
		{in: "5s", want: 5 * time.Second},
		{in: "100ms", want: 100 * time.Millisecond},
		{in: "1m30s", want: 90 * time.Second},
		{in: "1.5h", want: 90 * time.Minute},
		{in: "250us", want: 250 * time.Microsecond},
		{in: "250µs", want: 250 * time.Microsecond},
		{in: "0s", want: 0},
		{in: "", wantErr: "empty duration"},
		{in: "-5s", wantErr: "a duration cannot be negative"},
		{in: "5", wantErr: "add a unit, like 5s or 5ms (units: ns, us, ms, s, m, h)"},
		{in: "2d", wantErr: "days are not a duration unit: use hours, like 48h"},
		{in: "5sec", wantErr: "write seconds as s, like 5s"},
		{in: "10min", wantErr: "write minutes as m, like 10m"},
		{in: "1 hour", wantErr: "write hours as h, like 1h"},
		{in: "soon", wantErr: "use Go duration syntax with units ns, us, ms, s, m, h, like 100ms or 1m30s"},
		{in: "99999999h", wantErr: "99999999h is too long"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParseDuration(tt.in)
			if tt.wantErr != "" {
				assert.EqualError(t, err, tt.wantErr)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, Duration(tt.want), got)
		})
	}
}

func TestDurationString(t *testing.T) {
	tests := []struct {
		in   time.Duration
		want string
	}{
		{100 * time.Millisecond, "100ms"},
		{5 * time.Second, "5s"},
		{90 * time.Second, "1m30s"},
		{2 * time.Minute, "2m"},
		{2 * time.Hour, "2h"},
		{time.Hour + 5*time.Second, "1h0m5s"},
		{time.Hour + time.Minute, "1h1m"},
		{0, "0s"},
	}
	for _, tt := range tests {
		assert.Equal(t, tt.want, Duration(tt.in).String())
		back, err := ParseDuration(tt.want)
		require.NoError(t, err)
		assert.Equal(t, Duration(tt.in), back)
	}
}

func TestParseRate(t *testing.T) {
	tests := []struct {
		in        string
		want      Rate
		perSecond float64
		wantErr   string
	}{
		{in: "100/s", want: Rate{100, Duration(time.Second)}, perSecond: 100},
		{in: "20/m", want: Rate{20, Duration(time.Minute)}, perSecond: 20.0 / 60},
		{in: "5/h", want: Rate{5, Duration(time.Hour)}, perSecond: 5.0 / 3600},
		{in: "0/s", want: Rate{0, Duration(time.Second)}, perSecond: 0},
		{in: "", wantErr: "empty rate"},
		{in: "100", wantErr: "write COUNT/UNIT with the unit s, m or h, like 100/s"},
		{in: "100/sec", wantErr: `unknown unit "sec" (did you mean 100/s?)`},
		{in: "100/minute", wantErr: `unknown unit "minute" (did you mean 100/m?)`},
		{in: "100/d", wantErr: `unknown unit "d" (use s, m or h, like 100/s)`},
		{in: "-1/s", wantErr: `"-1" is not a whole number of requests`},
		{in: "1.5/s", wantErr: `"1.5" is not a whole number of requests`},
		{in: "99999999999/s", wantErr: "99999999999 is too large"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParseRate(tt.in)
			if tt.wantErr != "" {
				assert.EqualError(t, err, tt.wantErr)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.want, got)
			assert.InDelta(t, tt.perSecond, got.PerSecond(), 1e-12)
			assert.Equal(t, tt.in, got.String())
		})
	}
	assert.Equal(t, "", Rate{}.String())
	assert.Zero(t, Rate{}.PerSecond())
}

func TestUnitsJSON(t *testing.T) {
	v := struct {
		S Size
		D Duration
		R Rate
	}{64 << 10, Duration(1500 * time.Millisecond), Rate{100, Duration(time.Second)}}
	b, err := json.Marshal(v)
	require.NoError(t, err)
	assert.JSONEq(t, `{"S":"64KiB","D":"1.5s","R":"100/s"}`, string(b))

	var back struct {
		S Size
		D Duration
		R Rate
	}
	require.NoError(t, json.Unmarshal(b, &back))
	assert.Equal(t, v, back)
	assert.Error(t, json.Unmarshal([]byte(`{"S":"1 parsec"}`), &back))
	assert.Error(t, json.Unmarshal([]byte(`{"D":"5"}`), &back))
	assert.Error(t, json.Unmarshal([]byte(`{"R":"5/d"}`), &back))
}
