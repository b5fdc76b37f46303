// This file owns the helper's contact with the running system: kallsyms,
// the bpf filesystem and the kernel log.

package bpfload

import (
	"bufio"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"
)

// Host is the System of the running kernel.
type Host struct {
	Kallsyms string // path of kallsyms; /proc/kallsyms if empty
}

// SymbolExists scans kallsyms for a text symbol named name, in vmlinux or
// a loaded module.
func (h Host) SymbolExists(name string) (bool, error) {
	path := h.Kallsyms
	if path == "" {
		path = "/proc/kallsyms"
	}
	f, err := os.Open(path)
	if err != nil {
		return false, err
	}
	defer f.Close()
	return scanKallsyms(f, name)
}

func scanKallsyms(f *os.File, name string) (bool, error) {
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		// "<addr> <type> <name>[\t[module]]"
		fields := strings.Fields(sc.Text())
		if len(fields) < 3 || fields[2] != name {
			continue
		}
		switch fields[1] {
		case "t", "T", "w", "W":
			return true, nil
		}
	}
	if err := sc.Err(); err != nil {
		return false, fmt.Errorf("read %s: %w", f.Name(), err)
	}
	return false, nil
}

// EnsureBPFFS mounts bpffs on dir's parent if it is not a bpf filesystem yet
// and creates dir (mode 0700: only root may remove engagements).
func (h Host) EnsureBPFFS(dir string) error {
	root := filepath.Dir(dir)
	var st unix.Statfs_t
	if err := unix.Statfs(root, &st); err != nil {
		return fmt.Errorf("statfs %s: %w", root, err)
	}
	if st.Type != unix.BPF_FS_MAGIC {
		if err := unix.Mount("bpf", root, "bpf", unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, "mode=0700"); err != nil {
			return fmt.Errorf("mount bpffs at %s: %w", root, err)
		}
	}
	if err := os.Mkdir(dir, 0o700); err != nil && !errors.Is(err, fs.ErrExist) {
		return fmt.Errorf("create pin directory %s: %w", dir, err)
	}
	return nil
}

// Kernel log priorities for Kmsg.
const (
	KmsgWarning = 4
	KmsgNotice  = 5
)

// Kmsg writes one line to the kernel log at the given priority. The kernel
// log is the helper's only reliable output: the module reads no stdout and
// collapses every failure into -EIO.
func Kmsg(priority int, line string) error {
	f, err := os.OpenFile("/dev/kmsg", os.O_WRONLY, 0)
	if err != nil {
		return fmt.Errorf("open /dev/kmsg: %w", err)
	}
	defer f.Close()
	// A kmsg record is one line; multi-line detail goes to stderr only.
	// The newline matters: without it the record stays open for a
	// continuation and readers of the log do not see it yet.
	line, _, _ = strings.Cut(line, "\n")
	if _, err := fmt.Fprintf(f, "<%d>%s\n", priority, line); err != nil {
		return fmt.Errorf("write /dev/kmsg: %w", err)
	}
	return nil
}
