package main

// The identities the sweep acts as, and the operations a child performs
// under one. Each identity is a separate process, started by exec: Go
// cannot change credentials for one thread safely, and an exec'd child
// starts with exactly the credentials it is given.

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/killswitch/killswitch/internal/ksfs"
)

const nobody = 65534

// identity is who a child runs as.
type identity string

const (
	asRoot    identity = "root"
	asNonroot identity = "non-root" // uid/gid 65534, no capabilities
	asNocap   identity = "root without CAP_SYS_ADMIN"
	asUserns  identity = "root in a user namespace" // uid 0 mapped to 0, all caps there, none in the initial namespace
)

// op is one thing a child does.
type op struct {
	// Kind: write (open, write, close), writefd (write to an inherited
	// descriptor), read (a file's content), readdir, getppid (a call for
	// the observed syscall's callers file), capwrite (open with
	// CAP_SYS_ADMIN dropped from the effective set, raise it, write).
	Kind string
	Path string `json:",omitempty"`
	FD   int    `json:",omitempty"`
	Data string `json:",omitempty"`
}

// result is what one op gave.
type result struct {
	// Err is the errno name ("EACCES"), "" on success.
	Err  string `json:",omitempty"`
	Data string `json:",omitempty"`
	// Listing is the engaged file read right after a write: a refused
	// write must leave it as it was.
	Listing string `json:",omitempty"`
}

// report is a child's answer: who it turned out to be, and its results.
type report struct {
	Euid    int
	CapEff  uint64
	CapBnd  uint64
	UserNS  string
	Results []result
}

// childMain runs the ops on stdin and writes a report on stdout.
func childMain() error {
	var ops []op
	if err := json.NewDecoder(os.Stdin).Decode(&ops); err != nil {
		return fmt.Errorf("reading the ops: %w", err)
	}
	rep, err := whoAmI()
	if err != nil {
		return err
	}
	for _, o := range ops {
		rep.Results = append(rep.Results, do(o))
	}
	return json.NewEncoder(os.Stdout).Encode(rep)
}

func whoAmI() (report, error) {
	rep := report{Euid: os.Geteuid()}
	status, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return rep, err
	}
	for _, line := range strings.Split(string(status), "\n") {
		k, v, _ := strings.Cut(line, ":")
		var dst *uint64
		switch k {
		case "CapEff":
			dst = &rep.CapEff
		case "CapBnd":
			dst = &rep.CapBnd
		default:
			continue
		}
		if *dst, err = strconv.ParseUint(strings.TrimSpace(v), 16, 64); err != nil {
			return rep, fmt.Errorf("/proc/self/status %s: %w", k, err)
		}
	}
	rep.UserNS, err = os.Readlink("/proc/self/ns/user")
	return rep, err
}

func errName(err error) string {
	var e syscall.Errno
	if errors.As(err, &e) {
		if n := unix.ErrnoName(e); n != "" {
			return n
		}
		return fmt.Sprintf("errno %d", int(e))
	}
	if err != nil {
		return err.Error()
	}
	return ""
}

func writeFile(path, data string) error {
	fd, err := unix.Open(path, unix.O_WRONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	_, err = unix.Write(fd, []byte(data))
	return err
}

func listing() string {
	b, err := os.ReadFile(ksfs.Dir + "/engaged")
	if err != nil {
		return "(unreadable: " + errName(err) + ")"
	}
	return string(b)
}

func do(o op) result {
	var r result
	var err error
	switch o.Kind {
	case "write":
		err = writeFile(o.Path, o.Data)
	case "writefd":
		_, err = unix.Write(o.FD, []byte(o.Data))
	case "capwrite":
		err = capWrite(o.Path, o.Data)
	case "read":
		var b []byte
		b, err = os.ReadFile(o.Path)
		r.Data = string(b)
	case "readdir":
		var names []string
		var f *os.File
		if f, err = os.Open(o.Path); err == nil {
			names, err = f.Readdirnames(-1)
			f.Close()
		}
		r.Data = strings.Join(names, " ")
	case "getppid":
		unix.Getppid()
	default:
		err = fmt.Errorf("unknown op %q", o.Kind)
	}
	r.Err = errName(err)
	if strings.HasPrefix(o.Kind, "write") || o.Kind == "capwrite" {
		r.Listing = listing()
	}
	return r
}

// capWrite opens path while CAP_SYS_ADMIN is out of the effective set and
// writes with it back in: the module must check the opener's credentials
// too, or a descriptor opened without the capability (and handed to a
// privileged writer) would get through.
func capWrite(path, data string) error {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
	var caps, less [2]unix.CapUserData
	if err := unix.Capget(&hdr, &caps[0]); err != nil {
		return fmt.Errorf("capget: %w", err)
	}
	less = caps
	less[0].Effective &^= 1 << unix.CAP_SYS_ADMIN
	if err := unix.Capset(&hdr, &less[0]); err != nil {
		return fmt.Errorf("capset: %w", err)
	}
	fd, err := unix.Open(path, unix.O_WRONLY|unix.O_CLOEXEC, 0)
	if e := unix.Capset(&hdr, &caps[0]); e != nil {
		// This thread must not go back to the pool with fewer caps.
		panic(fmt.Sprintf("capset restore: %v", e))
	}
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	_, err = unix.Write(fd, []byte(data))
	return err
}

// nocapMain drops CAP_SYS_ADMIN from this thread's bounding, permitted,
// effective and inheritable sets and execs the rest of the command line
// from the same thread: the new program (every thread of it) starts as
// root without the capability and cannot regain it.
func nocapMain(args []string) error {
	runtime.LockOSThread()
	if err := unix.Prctl(unix.PR_CAPBSET_DROP, unix.CAP_SYS_ADMIN, 0, 0, 0); err != nil {
		return fmt.Errorf("PR_CAPBSET_DROP CAP_SYS_ADMIN: %w", err)
	}
	hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
	var caps [2]unix.CapUserData
	if err := unix.Capget(&hdr, &caps[0]); err != nil {
		return fmt.Errorf("capget: %w", err)
	}
	caps[0].Effective &^= 1 << unix.CAP_SYS_ADMIN
	caps[0].Permitted &^= 1 << unix.CAP_SYS_ADMIN
	caps[0].Inheritable &^= 1 << unix.CAP_SYS_ADMIN
	if err := unix.Capset(&hdr, &caps[0]); err != nil {
		return fmt.Errorf("capset: %w", err)
	}
	self, err := os.Executable()
	if err != nil {
		return err
	}
	return unix.Exec(self, append([]string{self}, args...), os.Environ())
}

// runAs runs ops in a child with the given identity; files become its
// descriptors 3, 4, ... The child's identity is checked before its
// results are believed.
func runAs(id identity, ops []op, files ...*os.File) (report, error) {
	self, err := os.Executable()
	if err != nil {
		return report{}, err
	}
	in, err := json.Marshal(ops)
	if err != nil {
		return report{}, err
	}
	cmd := exec.Command(self, "child")
	cmd.Stdin = strings.NewReader(string(in))
	cmd.ExtraFiles = files
	switch id {
	case asNonroot:
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: nobody, Gid: nobody, Groups: []uint32{}}}
	case asNocap:
		cmd.Args = []string{self, "nocap", "child"}
	case asUserns:
		cmd.SysProcAttr = &syscall.SysProcAttr{
			Cloneflags:  syscall.CLONE_NEWUSER,
			UidMappings: []syscall.SysProcIDMap{{ContainerID: 0, HostID: 0, Size: 1}},
			GidMappings: []syscall.SysProcIDMap{{ContainerID: 0, HostID: 0, Size: 1}},
		}
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return report{}, fmt.Errorf("child as %s: %v: %s", id, err, strings.TrimSpace(stderr.String()))
	}
	var rep report
	if err := json.Unmarshal(out, &rep); err != nil {
		return report{}, fmt.Errorf("child as %s: bad report %q: %w", id, out, err)
	}
	if len(rep.Results) != len(ops) {
		return rep, fmt.Errorf("child as %s: %d results for %d ops", id, len(rep.Results), len(ops))
	}
	return rep, checkIdentity(id, rep)
}

// checkIdentity fails unless the child is who it was meant to be: a
// refusal from a child that kept CAP_SYS_ADMIN would prove nothing.
func checkIdentity(id identity, rep report) error {
	const sysAdmin = uint64(1) << unix.CAP_SYS_ADMIN
	self, err := os.Readlink("/proc/self/ns/user")
	if err != nil {
		return err
	}
	var bad string
	switch id {
	case asRoot:
		if rep.Euid != 0 || rep.CapEff&sysAdmin == 0 || rep.UserNS != self {
			bad = "not root with CAP_SYS_ADMIN in the initial namespace"
		}
	case asNonroot:
		if rep.Euid != nobody || rep.CapEff != 0 {
			bad = "not uid 65534 without capabilities"
		}
	case asNocap:
		// Only CAP_SYS_ADMIN goes: CAP_DAC_OVERRIDE (bit 1) stays, so
		// the refusal is the module's check, not the file mode.
		if rep.Euid != 0 || rep.CapEff&sysAdmin != 0 || rep.CapBnd&sysAdmin != 0 || rep.CapEff&2 == 0 || rep.UserNS != self {
			bad = "not root with every capability but CAP_SYS_ADMIN"
		}
	case asUserns:
		if rep.Euid != 0 || rep.CapEff&sysAdmin == 0 || rep.UserNS == self {
			bad = "not root with CAP_SYS_ADMIN in a new user namespace"
		}
	}
	if bad != "" {
		return fmt.Errorf("child meant to be %s is %s: euid=%d CapEff=%#x CapBnd=%#x userns=%s (ours %s)",
			id, bad, rep.Euid, rep.CapEff, rep.CapBnd, rep.UserNS, self)
	}
	return nil
}
