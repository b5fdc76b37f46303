// Package flock serialises processes that share the cache ($KS_CACHE):
// two harness runs, or two kernels of one run, building the same thing.
package flock

import (
	"context"
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

// Lock takes an exclusive flock(2) on path, creating it if needed, and
// waits until it is free or ctx ends. The returned func releases it; the
// kernel also releases it when the process dies, so a crash leaves no
// stale lock.
func Lock(ctx context.Context, path string) (func(), error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, fmt.Errorf("opening lock %s: %w", path, err)
	}
	done := make(chan error, 1)
	go func() { done <- unix.Flock(int(f.Fd()), unix.LOCK_EX) }()
	select {
	case err := <-done:
		if err != nil {
			f.Close()
			return nil, fmt.Errorf("locking %s: %w", path, err)
		}
		return func() { f.Close() }, nil
	case <-ctx.Done():
		// Closing the file releases the lock once Flock returns.
		go func() { <-done; f.Close() }()
		return nil, fmt.Errorf("waiting for lock %s: %w", path, ctx.Err())
	}
}
