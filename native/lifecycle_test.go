package native_test

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tandemhost/tandem/native"
)

// A handler that blocks holds only its own worker: fast requests are served
// by another worker while it sleeps, even at low traffic when that worker
// was parked.
func TestBlockedWorkerDoesNotHoldOthersBack(t *testing.T) {
	p := newPool(t, 2, native.OwnGIL)
	for i := 0; i < 20; i++ { // warm the fast route's service time
		do(t, p, get(rNoop, "/noop"))
	}
	slowDone := make(chan struct{})
	go func() {
		defer close(slowDone)
		req := get(rSleepy, "/sleepy")
		req.Query = "seconds=2"
		do(t, p, req)
	}()
	time.Sleep(50 * time.Millisecond) // let it start
	for i := 0; i < 5; i++ {
		resp, _ := do(t, p, get(rNoop, "/noop"))
		require.Equal(t, 200, resp.Status)
		select {
		case <-slowDone:
			t.Fatalf("fast request %d waited for the blocked handler", i)
		default:
		}
	}
	<-slowDone
}

// Close with a deadline returns when it passes, refuses requests waiting
// for queue space, and a later Close waits for the workers to finish.
func TestCloseWithDeadline(t *testing.T) {
	p, err := native.NewPool(native.Config{Workers: 1, Queue: 1, Path: []string{appsDir(t)}, Routes: testRoutes()})
	require.NoError(t, err)
	slow := func() error {
		req := get(rSleepy, "/sleepy")
		req.Query = "seconds=0.5"
		_, err := p.Do(context.Background(), req)
		return err
	}
	var wg sync.WaitGroup
	var refused, served atomic.Int32
	for i := 0; i < 4; i++ { // one runs, one queues, two wait for room
		wg.Add(1)
		go func() {
			defer wg.Done()
			switch err := slow(); {
			case err == nil:
				served.Add(1)
			case errors.Is(err, native.ErrClosed):
				refused.Add(1)
			default:
				t.Error(err)
			}
		}()
	}
	time.Sleep(100 * time.Millisecond)
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	assert.ErrorIs(t, p.Close(ctx), context.DeadlineExceeded)
	_, err = p.Do(context.Background(), get(rNoop, "/noop"))
	assert.ErrorIs(t, err, native.ErrClosed)
	require.NoError(t, p.Close(context.Background()))
	wg.Wait()
	assert.Equal(t, int32(4), served.Load()+refused.Load())
	assert.GreaterOrEqual(t, served.Load(), int32(1), "the running request finished")
	assert.GreaterOrEqual(t, refused.Load(), int32(1), "a request waiting for room was refused")
}

// Restarting workers while requests flow loses none of them.
func TestRestartUnderLoad(t *testing.T) {
	p := newPool(t, 2, native.OwnGIL)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var n atomic.Int32
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				resp, err := p.Do(context.Background(), get(rNoop, "/noop"))
				if err != nil {
					t.Error(err)
					return
				}
				if resp.Status != 200 {
					t.Errorf("status %d: %s", resp.Status, resp.Log)
				}
				resp.Release()
				n.Add(1)
			}
		}()
	}
	for i := 0; i < 4; i++ {
		require.NoError(t, p.Restart(i%2))
	}
	close(stop)
	wg.Wait()
	assert.Positive(t, n.Load())
}
