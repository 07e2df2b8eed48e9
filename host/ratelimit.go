package host

import (
	"fmt"
	"math"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/tandemhost/tandem/policy"
)

// bucket is a tenant's token bucket: it holds up to burst tokens, gains
// rate tokens a second, and each request takes one. A request that finds
// it empty is answered 429 with Retry-After, before its body is read.
type bucket struct {
	tenant string
	limit  string // "100/s burst 20", for the 429's message
	rate   float64
	burst  float64

	mu     sync.Mutex
	tokens float64
	last   time.Time
}

func newBucket(tenant string, l policy.TenantLimits) *bucket {
	burst := max(l.Burst, 1)
	return &bucket{tenant: tenant, rate: l.Rate.PerSecond(), burst: float64(burst), tokens: float64(burst),
		limit: fmt.Sprintf("%s, burst %d", l.Rate, burst)}
}

// take takes a token if there is one; otherwise it says how long until
// there will be.
func (b *bucket) take(now time.Time) (ok bool, wait time.Duration) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if !b.last.IsZero() {
		b.tokens = min(b.burst, b.tokens+now.Sub(b.last).Seconds()*b.rate)
	}
	b.last = now
	if b.tokens >= 1 {
		b.tokens--
		return true, 0
	}
	return false, time.Duration((1 - b.tokens) / b.rate * float64(time.Second))
}

// limiter returns the tenant's bucket for these limits: the same one
// across reloads while the limits stay, so a reload does not refill it.
// s.mu is held.
func (s *Server) limiter(tenant string, l policy.TenantLimits) *bucket {
	key := fmt.Sprintf("%s\x00%s\x00%d", tenant, l.Rate, l.Burst)
	if b := s.limiters[key]; b != nil {
		return b
	}
	b := newBucket(tenant, l)
	s.limiters[key] = b
	return b
}

// rateLimit answers 429 to a tenant's request that finds its bucket
// empty, with Retry-After in whole seconds (at least 1).
func rateLimit(b *bucket) echo.MiddlewareFunc {
	message := fmt.Sprintf("tenant %q is over its rate limit (%s)", b.tenant, b.limit)
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			ok, wait := b.take(time.Now())
			if !ok {
				secs := int(math.Ceil(wait.Seconds()))
				return &httpError{status: http.StatusTooManyRequests, message: message,
					header: http.Header{"Retry-After": {strconv.Itoa(max(secs, 1))}}}
			}
			return next(c)
		}
	}
}
