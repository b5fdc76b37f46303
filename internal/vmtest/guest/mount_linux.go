package guest

import (
	"errors"
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

type mountSpec struct {
	source, target, fstype, data string
	flags                        uintptr
	// optional mounts may be missing from a kernel's configuration;
	// their failure is reported as a comment, not a failed test.
	optional bool
}

// mountSpecs is the in-VM contract's list, in dependency order.
func mountSpecs() []mountSpec {
	const nosuid, nodev, noexec = unix.MS_NOSUID, unix.MS_NODEV, unix.MS_NOEXEC
	return []mountSpec{
		{source: "proc", target: "/proc", fstype: "proc", flags: nosuid | nodev | noexec},
		{source: "sysfs", target: "/sys", fstype: "sysfs", flags: nosuid | nodev | noexec},
		{source: "devtmpfs", target: "/dev", fstype: "devtmpfs", flags: nosuid, data: "mode=0755"},
		{source: "devpts", target: "/dev/pts", fstype: "devpts", flags: nosuid | noexec, data: "gid=5,mode=620,ptmxmode=666"},
		{source: "tmpfs", target: "/dev/shm", fstype: "tmpfs", flags: nosuid | nodev},
		{source: "tmpfs", target: "/tmp", fstype: "tmpfs", flags: nosuid | nodev},
		{source: "tmpfs", target: "/run", fstype: "tmpfs", flags: nosuid | nodev, data: "mode=0755"},
		{source: "securityfs", target: "/sys/kernel/security", fstype: "securityfs", flags: nosuid | nodev | noexec},
		{source: "debugfs", target: "/sys/kernel/debug", fstype: "debugfs", flags: nosuid | nodev | noexec},
		{source: "tracefs", target: "/sys/kernel/tracing", fstype: "tracefs", flags: nosuid | nodev | noexec},
		{source: "bpf", target: "/sys/fs/bpf", fstype: "bpf", flags: nosuid | nodev | noexec, data: "mode=0700", optional: true},
		{source: "cgroup2", target: "/sys/fs/cgroup", fstype: "cgroup2", flags: nosuid | nodev | noexec, optional: true},
	}
}

type mountError struct {
	target   string
	optional bool
	err      error
}

func (e mountError) Error() string { return fmt.Sprintf("mount %s: %v", e.target, e.err) }

// mountAll mounts everything and returns what failed. A filesystem already
// mounted (devtmpfs by setupConsole) is not an error.
func mountAll() []mountError {
	var errs []mountError
	for _, m := range mountSpecs() {
		if err := os.MkdirAll(m.target, 0o755); err != nil {
			errs = append(errs, mountError{m.target, m.optional, fmt.Errorf("creating mount point: %w", err)})
			continue
		}
		err := unix.Mount(m.source, m.target, m.fstype, m.flags, m.data)
		if err != nil && !(errors.Is(err, unix.EBUSY) && isMountPoint(m.target)) {
			errs = append(errs, mountError{m.target, m.optional, fmt.Errorf("%s: %w", m.fstype, err)})
		}
	}
	// Shell scripts expect these; devtmpfs does not provide them.
	for name, target := range map[string]string{
		"/dev/fd": "/proc/self/fd", "/dev/stdin": "/proc/self/fd/0",
		"/dev/stdout": "/proc/self/fd/1", "/dev/stderr": "/proc/self/fd/2",
	} {
		_ = os.Symlink(target, name)
	}
	return errs
}

func isMountPoint(path string) bool {
	var st, parent unix.Stat_t
	if unix.Stat(path, &st) != nil || unix.Stat(path+"/..", &parent) != nil {
		return false
	}
	return st.Dev != parent.Dev
}
