// This file owns the host build dependencies of a test kernel.

package testkernel

import (
	"fmt"
	"io"
	"os"
	"os/exec"
	"sort"
	"strings"
)

// buildDeps maps what the kernel build runs or includes to the Debian
// package that provides it.
func buildDeps() map[string]string {
	return map[string]string{
		"make":                            "make",
		"gcc":                             "gcc",
		"bison":                           "bison",
		"flex":                            "flex",
		"bc":                              "bc",
		"perl":                            "perl",
		"pahole":                          "dwarves",
		"openssl":                         "openssl",
		"xz":                              "xz-utils",
		"cpio":                            "cpio",
		"depmod":                          "kmod",
		"/usr/include/libelf.h":           "libelf-dev",
		"/usr/include/openssl/opensslv.h": "libssl-dev",
		"/usr/share/doc/" + SourcePackage: SourcePackage,
	}
}

// depsHint is the command that installs everything a build needs.
func depsHint() string {
	return "apt-get install " + strings.Join(depPackages(), " ")
}

func depPackages() []string {
	seen := map[string]bool{}
	for _, p := range buildDeps() {
		seen[p] = true
	}
	var pkgs []string
	for p := range seen {
		pkgs = append(pkgs, p)
	}
	sort.Strings(pkgs)
	return pkgs
}

// missingDeps returns the packages whose files are not on this host.
func missingDeps() []string {
	need := map[string]bool{}
	for thing, pkg := range buildDeps() {
		var err error
		if strings.HasPrefix(thing, "/") {
			_, err = os.Stat(thing)
		} else {
			_, err = exec.LookPath(thing)
			if err != nil {
				// depmod lives in /sbin, outside a non-root PATH.
				_, err = os.Stat("/sbin/" + thing)
			}
		}
		if err != nil {
			need[pkg] = true
		}
	}
	var pkgs []string
	for p := range need {
		pkgs = append(pkgs, p)
	}
	sort.Strings(pkgs)
	return pkgs
}

// ensureDeps installs missing build dependencies with apt-get, saying so.
// A fresh machine may have no package lists yet: on failure it runs
// apt-get update once and tries again.
func ensureDeps(log io.Writer) error {
	missing := missingDeps()
	if len(missing) == 0 {
		return nil
	}
	if log == nil {
		log = io.Discard
	}
	fmt.Fprintf(log, "testkernel: installing kernel build dependencies: apt-get install -y %s\n", strings.Join(missing, " "))
	install := func() ([]byte, error) {
		cmd := exec.Command("apt-get", append([]string{"install", "-y", "--no-install-recommends", aptLockWait}, missing...)...)
		cmd.Env = append(os.Environ(), "DEBIAN_FRONTEND=noninteractive")
		return cmd.CombinedOutput()
	}
	if _, err := install(); err == nil {
		return nil
	}
	if out, err := exec.Command("apt-get", aptLockWait, "update").CombinedOutput(); err != nil {
		return fmt.Errorf("apt-get update before installing kernel build dependencies: %w\n%s", err, out)
	}
	if out, err := install(); err != nil {
		return fmt.Errorf("install kernel build dependencies (%s): %w\n%s", strings.Join(missing, " "), err, out)
	}
	return nil
}

// aptLockWait makes apt wait for another apt (a package install elsewhere
// on the machine) instead of failing at once: a cold run here lost its
// test-kernel builds to "Could not get lock /var/lib/apt/lists/lock".
const aptLockWait = "-oDPkg::Lock::Timeout=600"
