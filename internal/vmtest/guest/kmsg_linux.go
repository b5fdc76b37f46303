package guest

import (
	"errors"
	"fmt"
	"io"
	"sync"

	"golang.org/x/sys/unix"
)

// kmsgReader reads /dev/kmsg from boot until stopped, so that the log a
// run is judged on is whole: read only at the end, a noisy suite (the
// stress, the fuzzer, a debug kernel) would overrun the ring buffer and a
// report could be gone before anyone saw it. Lost records are marked.
type kmsgReader struct {
	fd   int
	stop chan struct{}
	done chan struct{}
	mu   sync.Mutex
	log  kmsgLog
	err  error
}

func startKmsg() (*kmsgReader, error) {
	fd, err := unix.Open("/dev/kmsg", unix.O_RDONLY|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("opening /dev/kmsg: %w", err)
	}
	k := &kmsgReader{fd: fd, stop: make(chan struct{}), done: make(chan struct{})}
	go k.loop()
	return k, nil
}

func (k *kmsgReader) loop() {
	defer close(k.done)
	defer unix.Close(k.fd)
	buf := make([]byte, 16*1024)
	stopping := false
	for {
		n, err := unix.Read(k.fd, buf)
		switch {
		case errors.Is(err, unix.EAGAIN):
			if stopping {
				return
			}
			select {
			case <-k.stop:
				// Drain what is there now, then return.
				stopping = true
			default:
				fds := []unix.PollFd{{Fd: int32(k.fd), Events: unix.POLLIN}}
				_, _ = unix.Poll(fds, 200)
			}
			continue
		case errors.Is(err, unix.EPIPE), errors.Is(err, unix.EINTR):
			// EPIPE: records were overwritten; the next read returns the
			// oldest one left, and its sequence number shows the gap.
			continue
		case err != nil:
			k.mu.Lock()
			k.err = fmt.Errorf("reading /dev/kmsg: %w", err)
			k.mu.Unlock()
			return
		}
		k.mu.Lock()
		k.log.add(buf[:n])
		k.mu.Unlock()
	}
}

// finish stops the reader once it has read everything logged so far and
// writes the log to w, one dmesg-style line per record.
func (k *kmsgReader) finish(w io.Writer, covered [][2]uint64) error {
	close(k.stop)
	<-k.done
	k.log.forgive(covered)
	for _, l := range k.log.lines {
		fmt.Fprintln(w, l)
	}
	return k.err
}
