package guest

import (
	"errors"
	"fmt"
	"io"

	"golang.org/x/sys/unix"
)

// dumpKmsg copies the kernel log ring buffer to w, one dmesg-style line per
// record, and returns when the buffer is drained (EAGAIN).
func dumpKmsg(w io.Writer) error {
	fd, err := unix.Open("/dev/kmsg", unix.O_RDONLY|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("opening /dev/kmsg: %w", err)
	}
	defer unix.Close(fd)
	buf := make([]byte, 16*1024)
	for {
		n, err := unix.Read(fd, buf)
		switch {
		case errors.Is(err, unix.EAGAIN):
			return nil
		case errors.Is(err, unix.EPIPE):
			// Records were overwritten while we read; the next read
			// continues with the oldest one still available.
			fmt.Fprintln(w, "[kmsg: records lost]")
			continue
		case errors.Is(err, unix.EINTR):
			continue
		case err != nil:
			return fmt.Errorf("reading /dev/kmsg: %w", err)
		}
		if line, ok := FormatKmsg(buf[:n]); ok {
			fmt.Fprintln(w, line)
		}
	}
}
