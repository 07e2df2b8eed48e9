package native_test

import (
	"sync"
	"testing"

	"github.com/tandemhost/tandem/native"
)

func TestExpParallelBurn(t *testing.T) {
	src := `
import time
def burn():
    t=0
    for i in range(15000): t+=i*i
    return t
best=1e9
for r in range(5):
    t0=time.perf_counter()
    for _ in range(300): burn()
    best=min(best,(time.perf_counter()-t0)/300)
print("%s: %.3f ms" % (LABEL, best*1e3), flush=True)
`
	p := newPool(t, 2, native.OwnGIL, func(c *native.Config) { c.CPUs = []int{0, 1} })
	if err := p.Exec(0, "LABEL='alone'\n"+src); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for i := 0; i < 2; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			if err := p.Exec(i, "LABEL='parallel'\n"+src); err != nil {
				t.Error(err)
			}
		}(i)
	}
	wg.Wait()
}
