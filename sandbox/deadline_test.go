package sandbox

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
)

// TestResponseAfterDeadline: when the rest of the chain uses up the
// request's time and answers 504 itself, handle_response still runs (with
// the plugin's own timeout), the plugin is not blamed, and its instance
// serves the next request.
func TestResponseAfterDeadline(t *testing.T) {
	engine, _ := testEngine(t)
	plugin := compile(t, engine, "noop", testdata(t, "noop.wasm"), Limits{Timeout: time.Second})
	pool := plugin.Pool("")
	slow := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		<-r.Context().Done()
		w.WriteHeader(http.StatusGatewayTimeout)
		_, _ = w.Write([]byte("too slow"))
	})
	h := pool.Middleware(slow)
	for i := range 5 {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest("GET", "/", nil).WithContext(ctx))
		cancel()
		assert.Equal(t, http.StatusGatewayTimeout, rec.Code, "request %d", i)
		assert.Equal(t, "too slow", rec.Body.String(), "the chain's own answer, request %d", i)
	}
	s := pool.Stats()
	assert.Zero(t, s.Timeouts, "the plugin did not overrun")
	assert.Equal(t, uint64(1), s.Instantiations, "one instance served every request")
}
