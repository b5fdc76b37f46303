package agent

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/killswitch/killswitch/internal/hostfs"
	"github.com/killswitch/killswitch/internal/policy"
)

// Host paths the agent reads besides the module's own files (which only
// ksfs opens).
const (
	osreleaseFile = "/proc/sys/kernel/osrelease"
	versionFile   = "/proc/sys/kernel/version"
	signatureFile = "/proc/version_signature"
	bootIDFile    = "/proc/sys/kernel/random/boot_id"
	uptimeFile    = "/proc/uptime"
	sysModuleDir  = "/sys/module/"
)

// readKernel reads what kernel selectors look at.
func readKernel(fsys hostfs.FS) (policy.Kernel, error) {
	rel, err := fsys.ReadFile(osreleaseFile)
	if err != nil {
		return policy.Kernel{}, fmt.Errorf("read kernel release: %w", err)
	}
	ver, _ := fsys.ReadFile(versionFile)
	sig, _ := fsys.ReadFile(signatureFile)
	return policy.KernelFromUname(string(rel), string(ver), string(sig)), nil
}

// readBootID identifies this boot: ownership never outlives it.
func readBootID(fsys hostfs.FS) string {
	b, err := fsys.ReadFile(bootIDFile)
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(b))
}

// readUptime is the time since boot on the clock the module's since uses
// (CLOCK_BOOTTIME).
func readUptime(fsys hostfs.FS) (time.Duration, error) {
	b, err := fsys.ReadFile(uptimeFile)
	if err != nil {
		return 0, fmt.Errorf("read uptime: %w", err)
	}
	f := strings.Fields(string(b))
	if len(f) == 0 {
		return 0, fmt.Errorf("read uptime: %s is empty", uptimeFile)
	}
	s, err := strconv.ParseFloat(f[0], 64)
	if err != nil {
		return 0, fmt.Errorf("read uptime: %q: %w", f[0], err)
	}
	return time.Duration(s * float64(time.Second)), nil
}

// moduleState is a module's /sys/module/<name>/initstate: "live" once its
// init has run, "" if it is not loaded (or built in, which has no
// initstate).
func moduleState(fsys hostfs.FS, name string) string {
	b, err := fsys.ReadFile(sysModuleDir + strings.ReplaceAll(name, "-", "_") + "/initstate")
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(b))
}

// moduleLoaded reports whether a module's code is present: loaded, or
// built in (which shows in /sys/module only if it has parameters, so a
// symbol's absence is left for pre-flight to explain).
func moduleLoaded(fsys hostfs.FS, name string) bool {
	return hostfs.Exists(fsys, sysModuleDir+strings.ReplaceAll(name, "-", "_"))
}
