package preflight

import (
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"strings"
	"sync"

	"github.com/cilium/ebpf/btf"

	"github.com/killswitch/killswitch/internal/hostfs"
)

// Host paths the checks read.
const (
	kallsymsFile    = "/proc/kallsyms"
	osreleaseFile   = "/proc/sys/kernel/osrelease"
	mountsFile      = "/proc/self/mounts"
	procConfigFile  = "/proc/config.gz"
	vmlinuxBTF      = "/sys/kernel/btf/vmlinux"
	moduleBTFDir    = "/sys/kernel/btf/"
	sysModuleDir    = "/sys/module/"
	guardParamFile  = "/sys/module/killswitch/parameters/guard"
	kprobesEnabled  = "/sys/kernel/debug/kprobes/enabled"
	kprobeBlacklist = "/sys/kernel/debug/kprobes/blacklist"
)

// Where ftrace lists what it can trace: tracefs, or tracefs under debugfs.
var filterFunctionFiles = []string{
	"/sys/kernel/tracing/available_filter_functions",
	"/sys/kernel/debug/tracing/available_filter_functions",
}

// Host reads kernel facts through a filesystem. It caches what is costly
// to parse (BTF, kernel config), so one Host serves one command; it is safe
// for concurrent use.
type Host struct {
	fs hostfs.FS

	mu      sync.Mutex
	vmlinux *btf.Spec
	btfErr  error
	btfDone bool
	config  map[string]string
	cfgPath string
	cfgErr  error
	cfgDone bool
}

// NewHost returns a Host reading through fsys: hostfs.Dir("/") for the
// running kernel.
func NewHost(fsys hostfs.FS) *Host {
	return &Host{fs: fsys}
}

// Release is the running kernel's release, as uname -r prints it.
func (h *Host) Release() (string, error) {
	b, err := h.fs.ReadFile(osreleaseFile)
	if err != nil {
		return "", fmt.Errorf("read kernel release: %w", err)
	}
	return strings.TrimSpace(string(b)), nil
}

// ModuleLoaded reports whether a module is loaded (/sys/module/<name>).
// Built-in code with parameters has a /sys/module entry too, which is
// right for this purpose: its symbols are there.
func (h *Host) ModuleLoaded(name string) bool {
	return hostfs.Exists(h.fs, sysModuleDir+strings.ReplaceAll(name, "-", "_"))
}

// vmlinuxSpec loads the kernel's BTF once.
func (h *Host) vmlinuxSpec() (*btf.Spec, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if !h.btfDone {
		h.btfDone = true
		raw, err := h.fs.ReadFile(vmlinuxBTF)
		if err == nil {
			h.vmlinux, err = btf.LoadSpecFromReader(bytes.NewReader(raw))
		}
		if err != nil {
			h.btfErr = fmt.Errorf("load kernel BTF: %w", err)
		}
	}
	return h.vmlinux, h.btfErr
}

// moduleSpec loads a module's split BTF on top of the kernel's.
func (h *Host) moduleSpec(module string) (*btf.Spec, error) {
	base, err := h.vmlinuxSpec()
	if err != nil {
		return nil, err
	}
	raw, err := h.fs.ReadFile(moduleBTFDir + module)
	if err != nil {
		return nil, fmt.Errorf("load BTF of module %s: %w", module, err)
	}
	spec, err := btf.LoadSplitSpecFromReader(bytes.NewReader(raw), base)
	if err != nil {
		return nil, fmt.Errorf("load BTF of module %s: %w", module, err)
	}
	return spec, nil
}

// Config returns the running kernel's configuration from
// /boot/config-<release>, or /proc/config.gz, and the path it came from.
func (h *Host) Config() (map[string]string, string, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if !h.cfgDone {
		h.cfgDone = true
		h.config, h.cfgPath, h.cfgErr = h.loadConfig()
	}
	return h.config, h.cfgPath, h.cfgErr
}

func (h *Host) loadConfig() (map[string]string, string, error) {
	rel, err := h.Release()
	if err != nil {
		return nil, "", err
	}
	path := "/boot/config-" + rel
	b, err := h.fs.ReadFile(path)
	if err == nil {
		return ParseConfig(string(b)), path, nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return nil, path, fmt.Errorf("read kernel config: %w", err)
	}
	gz, gzErr := h.fs.ReadFile(procConfigFile)
	if gzErr != nil {
		return nil, path, fmt.Errorf("kernel config not found at %s, and no %s", path, procConfigFile)
	}
	zr, err := gzip.NewReader(bytes.NewReader(gz))
	if err != nil {
		return nil, procConfigFile, fmt.Errorf("read %s: %w", procConfigFile, err)
	}
	b, err = io.ReadAll(zr)
	if err != nil {
		return nil, procConfigFile, fmt.Errorf("read %s: %w", procConfigFile, err)
	}
	return ParseConfig(string(b)), procConfigFile, nil
}

// ParseConfig parses a kernel .config: CONFIG_X=value lines; "# CONFIG_X is
// not set" and anything else is ignored, so a missing key means "not set".
// Keys keep their CONFIG_ prefix; string values keep their quotes.
func ParseConfig(data string) map[string]string {
	cfg := make(map[string]string)
	for _, line := range strings.Split(data, "\n") {
		line = strings.TrimSpace(line)
		if !strings.HasPrefix(line, "CONFIG_") {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if ok && k != "" {
			cfg[k] = v
		}
	}
	return cfg
}

// mounted reports whether a filesystem of fstype is mounted at dir.
func (h *Host) mounted(fstype, dir string) (bool, error) {
	b, err := h.fs.ReadFile(mountsFile)
	if err != nil {
		return false, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) >= 3 && f[1] == dir && f[2] == fstype {
			return true, nil
		}
	}
	return false, nil
}
