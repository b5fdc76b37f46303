package agent

import (
	"bytes"
	"context"
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

// watchModules listens to the kernel's module uevents (NETLINK_KOBJECT_UEVENT)
// and sends an Event for each module added or removed, so a reloaded
// killswitch is re-engaged at once and a target's module is engaged as
// soon as it loads. Receiving uevents needs no privilege, and works in a
// container's network namespace too.
func watchModules(ctx context.Context, ch chan<- Event) error {
	fd, err := unix.Socket(unix.AF_NETLINK, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC|unix.SOCK_NONBLOCK, unix.NETLINK_KOBJECT_UEVENT)
	if err != nil {
		return fmt.Errorf("open uevent socket: %w", err)
	}
	if err := unix.Bind(fd, &unix.SockaddrNetlink{Family: unix.AF_NETLINK, Groups: 1}); err != nil {
		unix.Close(fd)
		return fmt.Errorf("bind uevent socket: %w", err)
	}
	// A 1 MiB buffer rides out bursts (udev coldplug) without ENOBUFS.
	_ = unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUF, 1<<20)
	f := os.NewFile(uintptr(fd), "uevent")
	go func() {
		<-ctx.Done()
		f.Close()
	}()
	go func() {
		buf := make([]byte, 64<<10)
		for {
			n, err := f.Read(buf)
			if err != nil {
				if ctx.Err() != nil {
					return
				}
				// ENOBUFS: events were dropped; say something
				// changed so the agent looks.
				send(ctx, ch, Event{Module: "?", Action: "overflow"})
				continue
			}
			if ev, ok := parseUevent(buf[:n]); ok {
				send(ctx, ch, ev)
			}
		}
	}()
	return nil
}

// parseUevent reads a kernel uevent ("add@/module/killswitch\0ACTION=add\0
// DEVPATH=/module/killswitch\0SUBSYSTEM=module\0...") and keeps module
// additions and removals.
func parseUevent(b []byte) (Event, bool) {
	fields := bytes.Split(b, []byte{0})
	if len(fields) < 2 || !bytes.Contains(fields[0], []byte("@")) {
		// udev's own re-broadcasts start with "libudev".
		return Event{}, false
	}
	var action, subsystem, devpath string
	for _, f := range fields[1:] {
		k, v, ok := bytes.Cut(f, []byte("="))
		if !ok {
			continue
		}
		switch string(k) {
		case "ACTION":
			action = string(v)
		case "SUBSYSTEM":
			subsystem = string(v)
		case "DEVPATH":
			devpath = string(v)
		}
	}
	if subsystem != "module" || (action != "add" && action != "remove") {
		return Event{}, false
	}
	name, ok := bytes.CutPrefix([]byte(devpath), []byte("/module/"))
	if !ok || len(name) == 0 || bytes.Contains(name, []byte("/")) {
		return Event{}, false
	}
	return Event{Module: string(name), Action: action}, true
}
