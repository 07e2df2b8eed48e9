package native

import (
	"math"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestServiceTimes(t *testing.T) {
	ids := func(ids ...int) []Route {
		rs := make([]Route, len(ids))
		for i, id := range ids {
			rs[i].ID = id
		}
		return rs
	}
	var none *serviceTimes
	assert.Nil(t, none.get(0))
	assert.Nil(t, newServiceTimes(nil, nil).get(0))

	a := newServiceTimes(ids(3, 5, 4), nil)
	require.NotNil(t, a.dense, "close IDs use a slice")
	for _, id := range []int{-1, 0, 2, 6, math.MinInt, math.MaxInt} {
		assert.Nil(t, a.get(id), "id %d", id)
	}
	a.get(5).Store(42)

	// Sparse IDs use a map; the counters of the IDs that stay are shared.
	b := newServiceTimes(ids(5, 1000000, 7), a)
	assert.Nil(t, b.dense)
	assert.Same(t, a.get(5), b.get(5))
	assert.Equal(t, int64(42), b.get(5).Load())
	assert.NotNil(t, b.get(1000000))
	assert.NotSame(t, b.get(7), b.get(1000000))
	assert.Nil(t, b.get(3))
	assert.Nil(t, b.get(6))

	c := newServiceTimes(ids(1000000, 1000002), b)
	require.NotNil(t, c.dense)
	assert.Same(t, b.get(1000000), c.get(1000000))
	assert.Nil(t, c.get(1000001))
	assert.Nil(t, c.get(5))
}
