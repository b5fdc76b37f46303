package guest

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/killswitch/killswitch/internal/vmtest/vmproto"
)

// Main is ks-vminit's whole program. It never returns.
func Main() {
	defer powerOff()
	defer func() {
		if r := recover(); r != nil {
			fmt.Fprintf(os.Stderr, "ks-vminit: panic: %v\n", r)
		}
	}()
	run()
}

func run() {
	console := setupConsole()
	logf := func(format string, args ...any) {
		fmt.Fprintf(console, "ks-vminit: "+format+"\n", args...)
	}
	// Mount failures are counted as failures later; until /proc is up
	// there is no command line to read, so mount first.
	mountErrs := mountAll()
	// From boot on: see kmsgReader.
	kmsg, kmsgErr := startKmsg()

	cmdline, err := os.ReadFile("/proc/cmdline")
	if err != nil {
		logf("reading /proc/cmdline: %v", err)
	}
	cfg := ParseCmdline(string(cmdline))
	setEnv(cfg)

	out := openResults(cfg.Results, console, logf)
	r := &reporter{w: out}
	for _, err := range mountErrs {
		if err.optional {
			r.comment(err.Error())
			continue
		}
		r.result(vmproto.Parse(vmproto.FailLine("ks-vminit: mount "+err.target, err.err.Error())))
	}

	suites, err := listSuites(cfg.SuitesDir)
	if err != nil {
		r.result(vmproto.Parse(vmproto.FailLine("ks-vminit: list suites", err.Error())))
	}
	for _, s := range suites {
		logf("running suite %s", filepath.Base(s))
		start := time.Now()
		runSuite(context.Background(), cfg, s, r)
		reapZombies()
		logf("suite %s done in %.1fs", filepath.Base(s), time.Since(start).Seconds())
	}

	r.line(vmproto.KmsgBegin)
	if kmsgErr == nil {
		kmsgErr = kmsg.finish(r.w, r.covered)
	}
	r.line(vmproto.KmsgEnd)
	if kmsgErr != nil {
		// Without the kernel log the run cannot be judged.
		r.result(vmproto.Parse(vmproto.FailLine("ks-vminit: kernel log", kmsgErr.Error())))
	}
	r.line(r.tally.String())
	logf("%s", r.tally.String())
	unix.Sync()
}

func setEnv(cfg Config) {
	os.Clearenv()
	// The host's settings first, so that init's own win.
	for _, kv := range cfg.Env {
		k, v, _ := strings.Cut(kv, "=")
		os.Setenv(k, v)
	}
	for k, v := range map[string]string{
		"PATH":      "/usr/sbin:/usr/bin:/sbin:/bin",
		"HOME":      "/root",
		"TERM":      "dumb",
		"LANG":      "C",
		"KS_KERNEL": cfg.Label,
		"KS_ARCH":   cfg.Arch,
	} {
		os.Setenv(k, v)
	}
}

// setupConsole returns a writer to the system console. The kernel normally
// opens /dev/console as init's stdio (its built-in initramfs provides the
// node); when it could not, open it once devtmpfs is available.
func setupConsole() io.Writer {
	if _, err := unix.FcntlInt(1, unix.F_GETFD, 0); err == nil {
		return os.Stdout
	}
	if err := os.MkdirAll("/dev", 0o755); err == nil {
		_ = unix.Mount("devtmpfs", "/dev", "devtmpfs", 0, "")
	}
	f, err := os.OpenFile("/dev/console", os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		return io.Discard
	}
	for fd := 0; fd <= 2; fd++ {
		_ = unix.Dup2(int(f.Fd()), fd)
	}
	return f
}

// openResults opens the results channel in raw mode, so the tty layer does
// not rewrite newlines. Without it the run cannot report, so fall back to the
// console: the host then fails the run for a missing summary, with the
// reason visible in the console log.
func openResults(dev string, console io.Writer, logf func(string, ...any)) io.Writer {
	f, err := os.OpenFile(dev, os.O_WRONLY|unix.O_NOCTTY, 0)
	if err != nil {
		logf("opening results channel %s: %v; reporting on the console", dev, err)
		return console
	}
	if t, err := unix.IoctlGetTermios(int(f.Fd()), unix.TCGETS); err == nil {
		t.Oflag &^= unix.OPOST
		_ = unix.IoctlSetTermios(int(f.Fd()), unix.TCSETS, t)
	}
	return f
}

// listSuites returns the executables in dir in lexical order.
func listSuites(dir string) ([]string, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("reading suite directory: %w", err)
	}
	var suites []string
	for _, e := range entries {
		info, err := e.Info()
		if err != nil || !info.Mode().IsRegular() || info.Mode().Perm()&0o111 == 0 {
			continue
		}
		suites = append(suites, filepath.Join(dir, e.Name()))
	}
	sort.Strings(suites)
	return suites, nil
}

// reapZombies collects orphans re-parented to init. It runs only between
// suites, when no exec.Cmd is waiting, so it cannot steal a suite's status.
func reapZombies() {
	for {
		var ws unix.WaitStatus
		pid, err := unix.Wait4(-1, &ws, unix.WNOHANG, nil)
		if pid <= 0 || err != nil {
			return
		}
	}
}

func powerOff() {
	unix.Sync()
	err := unix.Reboot(unix.LINUX_REBOOT_CMD_POWER_OFF)
	fmt.Fprintf(os.Stderr, "ks-vminit: power off: %v; rebooting instead\n", err)
	// QEMU runs with -no-reboot, so a reboot also ends the VM.
	_ = unix.Reboot(unix.LINUX_REBOOT_CMD_RESTART)
	for {
		time.Sleep(time.Hour)
	}
}
