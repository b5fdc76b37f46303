// Package kstest is what the Go suites that hammer the module in the test
// VM share (test/vm/suites/90-stress, 91-fuzz): loading and unloading the
// modules by system call, raw writes to the killswitch files that keep the
// errno (internal/ksfs turns it into an operator's error and reads the
// kernel log on every failure, too slow for 100k writes), a kernel-log
// watch that catches bug reports as they happen (before the log buffer
// wraps over them) and the kmemleak check.
//
// It runs only inside the test VM, as root.
package kstest

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/sys/unix"

	"github.com/killswitch/killswitch/internal/ksfs"
	"github.com/killswitch/killswitch/internal/vmtest"
	"github.com/killswitch/killswitch/internal/vmtest/guest"
	"github.com/killswitch/killswitch/internal/vmtest/vmproto"
)

// Paths of the module's files and of the test module's debugfs files.
const (
	Control = ksfs.Dir + "/control"
	Engaged = ksfs.Dir + "/engaged"
	// TestCall: reading it calls every test target (ks_test_vuln(42) ...).
	TestCall = "/sys/kernel/debug/test_killswitch/call"
	// TestTrigger: writing N calls ks_test_vuln(N); TestResult shows what
	// it returned.
	TestTrigger = "/sys/kernel/debug/test_killswitch/trigger"
	TestResult  = "/sys/kernel/debug/test_killswitch/result"
	Kmemleak    = "/sys/kernel/debug/kmemleak"
)

// FnFile is fn/<sym>/<name>.
func FnFile(sym, name string) string { return ksfs.Dir + "/fn/" + sym + "/" + name }

// Errno is the errno of err, 0 for nil, or -1 for an error without one.
func Errno(err error) unix.Errno {
	if err == nil {
		return 0
	}
	var e unix.Errno
	if errors.As(err, &e) {
		return e
	}
	return unix.Errno(^uintptr(0))
}

// ErrnoName is "EINVAL" for EINVAL, "ok" for 0.
func ErrnoName(e unix.Errno) string {
	if e == 0 {
		return "ok"
	}
	if n := unix.ErrnoName(e); n != "" {
		return n
	}
	return fmt.Sprintf("errno%d", int(e))
}

// Write writes data to path in one write(2), as echo does, and returns the
// errno of the open or the write.
func Write(path string, data []byte) unix.Errno {
	fd, err := unix.Open(path, unix.O_WRONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return Errno(err)
	}
	defer unix.Close(fd)
	n, err := unix.Write(fd, data)
	if err == nil && n != len(data) {
		return unix.EIO
	}
	return Errno(err)
}

// Read reads a whole small file and returns the errno of the failure.
func Read(path string) (string, unix.Errno) {
	b, err := os.ReadFile(path)
	return string(b), Errno(err)
}

// Modules loads and unloads killswitch.ko and test_killswitch.ko.
type Modules struct {
	Dir string // /lib/modules/<release>/extra
}

// NewModules finds the modules of the running kernel.
func NewModules() (*Modules, error) {
	var u unix.Utsname
	if err := unix.Uname(&u); err != nil {
		return nil, fmt.Errorf("uname: %w", err)
	}
	dir := filepath.Join("/lib/modules", unix.ByteSliceToString(u.Release[:]), "extra")
	for _, m := range []string{"killswitch", "test_killswitch"} {
		if _, err := os.Stat(filepath.Join(dir, m+".ko")); err != nil {
			return nil, fmt.Errorf("module %s: %w (the initramfs must carry it in %s)", m, err, dir)
		}
	}
	return &Modules{Dir: dir}, nil
}

// Load loads the module name with params ("" for none) and returns the
// errno finit_module gave.
func (m *Modules) Load(name, params string) unix.Errno {
	f, err := os.Open(filepath.Join(m.Dir, name+".ko"))
	if err != nil {
		return Errno(err)
	}
	defer f.Close()
	return Errno(unix.FinitModule(int(f.Fd()), params, 0))
}

// Unload removes the module name, retrying for up to 30 s while something
// holds it (an open file); ENOENT means it was not loaded.
func (m *Modules) Unload(name string) unix.Errno {
	deadline := time.Now().Add(30 * time.Second)
	for {
		err := Errno(unix.DeleteModule(name, unix.O_NONBLOCK))
		if (err != unix.EAGAIN && err != unix.EBUSY) || time.Now().After(deadline) {
			return err
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Loaded reports whether /sys/module/<name> exists.
func Loaded(name string) bool {
	_, err := os.Stat("/sys/module/" + name)
	return err == nil
}

// KmsgWatch reads /dev/kmsg from the moment it starts and keeps the lines
// that report a kernel bug (the harness's own patterns), plus a count of
// lines containing each of the Count strings.
type KmsgWatch struct {
	Count []string

	mu     sync.Mutex
	splats []string
	counts map[string]int
	lost   int
	// The sequence numbers read, to prove the watch saw every record
	// from its first to its last (Complete).
	first, last uint64
	seen, gap   bool
	fd          int
	stop        chan struct{}
	done        chan struct{}
}

// WatchKmsg starts a watch from the end of the log; onSplat, if not nil,
// is called (from the watch's goroutine) for every bug line as it arrives.
func WatchKmsg(count []string, onSplat func(line string)) (*KmsgWatch, error) {
	fd, err := unix.Open("/dev/kmsg", unix.O_RDONLY|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("opening /dev/kmsg: %w", err)
	}
	if _, err := unix.Seek(fd, 0, unix.SEEK_END); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("seeking /dev/kmsg to its end: %w", err)
	}
	w := &KmsgWatch{Count: count, counts: map[string]int{}, fd: fd, stop: make(chan struct{}), done: make(chan struct{})}
	go w.loop(onSplat)
	return w, nil
}

func (w *KmsgWatch) loop(onSplat func(string)) {
	defer close(w.done)
	buf := make([]byte, 8192)
	for {
		n, err := unix.Read(w.fd, buf)
		switch {
		case err == unix.EPIPE:
			// Records overwritten before we read them.
			w.mu.Lock()
			w.lost++
			w.mu.Unlock()
			continue
		case err == unix.EAGAIN || err == unix.EINTR:
			select {
			case <-w.stop:
				return
			case <-time.After(100 * time.Millisecond):
			}
			continue
		case err != nil || n <= 0:
			return
		}
		if seq, ok := guest.KmsgSeq(buf[:n]); ok {
			w.mu.Lock()
			switch {
			case !w.seen:
				w.first, w.seen = seq, true
			case seq != w.last+1:
				w.gap = true
			}
			w.last = seq
			w.mu.Unlock()
		}
		line, ok := guest.FormatKmsg(buf[:n])
		if !ok {
			continue
		}
		w.mu.Lock()
		for _, c := range w.Count {
			if strings.Contains(line, c) {
				w.counts[c]++
			}
		}
		isSplat := len(vmtest.ScanSplats([]string{line})) > 0
		if isSplat {
			w.splats = append(w.splats, line)
		}
		w.mu.Unlock()
		if isSplat && onSplat != nil {
			onSplat(line)
		}
	}
}

// Stop drains what the log holds and stops the watch.
func (w *KmsgWatch) Stop() {
	close(w.stop)
	<-w.done
	unix.Close(w.fd)
}

// Splats returns the bug lines seen so far.
func (w *KmsgWatch) Splats() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]string(nil), w.splats...)
}

// Counted returns how many lines contained c.
func (w *KmsgWatch) Counted(c string) int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.counts[c]
}

// Lost is how many times records were overwritten before the watch read
// them (the log buffer wrapped): a bug line may have gone unseen there.
func (w *KmsgWatch) Lost() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.lost
}

// KmemleakScan runs kmemleak's scan twice with a pause (an object is only
// reported once it is older than 5 s and found unreferenced by a scan) and
// returns the report: one block per suspected leak, "" when none. It fails
// when the kernel has no kmemleak.
func KmemleakScan() (string, error) {
	for i := 0; i < 2; i++ {
		if i > 0 {
			time.Sleep(6 * time.Second)
		}
		if e := Write(Kmemleak, []byte("scan")); e != 0 {
			return "", fmt.Errorf("echo scan > %s: %v (is the kernel built with CONFIG_DEBUG_KMEMLEAK and kmemleak enabled?)", Kmemleak, e)
		}
	}
	b, err := os.ReadFile(Kmemleak)
	if err != nil {
		return "", fmt.Errorf("reading %s: %w", Kmemleak, err)
	}
	return string(bytes.TrimSpace(b)), nil
}

// LeakBlocks splits a kmemleak report into its "unreferenced object" blocks.
func LeakBlocks(report string) []string {
	var out []string
	for _, b := range strings.Split(report, "unreferenced object") {
		if b = strings.TrimSpace(b); b != "" {
			out = append(out, "unreferenced object "+b)
		}
	}
	return out
}

// ParseLong is the module's ks_parse_long: a signed long in decimal or
// 0x-hex, optionally signed; hex takes the full 64-bit pattern; no octal.
func ParseLong(s string) (int64, bool) {
	neg := false
	if s != "" && (s[0] == '-' || s[0] == '+') {
		neg = s[0] == '-'
		s = s[1:]
	}
	hex := false
	var v uint64
	var err error
	if len(s) >= 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X') {
		hex = true
		s = s[2:]
		if !All(s, isXdigit) {
			return 0, false
		}
		v, err = strconv.ParseUint(s, 16, 64)
	} else {
		if !All(s, isDigit) {
			return 0, false
		}
		v, err = strconv.ParseUint(s, 10, 64)
	}
	if err != nil {
		return 0, false
	}
	if neg {
		if v > 1<<63 {
			return 0, false
		}
		return int64(-v), true
	}
	if !hex && v > 1<<63-1 {
		return 0, false
	}
	return int64(v), true
}

// All is ks_all: s is not empty and pred holds for every byte.
func All(s string, pred func(byte) bool) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !pred(s[i]) {
			return false
		}
	}
	return true
}

func isDigit(c byte) bool  { return c >= '0' && c <= '9' }
func isXdigit(c byte) bool { return isDigit(c) || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F' }

// QuietConsole lowers the console log level to 4 (errors and worse) for
// the duration of a suite and returns the function that restores it. The
// module's audit lines are warnings: thousands of them over an emulated
// serial port cost more than the operations. They stay in the log, where
// KmsgWatch reads every line (warnings included) as it comes.
func QuietConsole() (restore func(), err error) {
	const f = "/proc/sys/kernel/printk"
	old, err := os.ReadFile(f)
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", f, err)
	}
	fields := strings.Fields(string(old))
	if len(fields) != 4 {
		return nil, fmt.Errorf("%s reads %q, not four numbers", f, old)
	}
	if err := os.WriteFile(f, []byte("4 "+strings.Join(fields[1:], " ")), 0); err != nil {
		return nil, fmt.Errorf("writing %s: %w", f, err)
	}
	return func() { _ = os.WriteFile(f, []byte(strings.Join(fields, " ")), 0) }, nil
}

// Complete returns the line that proves to ks-vminit that the watch read
// every kernel log record from its first to its last (vmproto.KmsgComplete),
// and false when it missed some or read none. ks-vminit then does not fail
// the run for records it lost itself in that range: this watch scanned them.
func (w *KmsgWatch) Complete() (string, bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.seen || w.gap || w.lost > 0 {
		return "", false
	}
	return vmproto.KmsgComplete(w.first, w.last), true
}
