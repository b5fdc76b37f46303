package vmtest

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
)

// isBuildOutput matches kbuild/compiler products: they are never copied into
// a fresh build directory, so a developer's in-tree build cannot leak into ours.
func isBuildOutput(name string) bool {
	for _, pat := range []string{"*.o", "*.ko", "*.mod", "*.mod.c", ".*.cmd", "*.symvers", "modules.order", "*.a", "*.dwo", ".tmp_versions", "ksw"} {
		if ok, _ := filepath.Match(pat, name); ok {
			return true
		}
	}
	return false
}

// walkTree calls visit for src and everything below it, with the path
// relative to src, leaving out (whole directories included) the entries
// below src whose name skip matches.
func walkTree(src string, skip func(name string) bool, visit func(p, rel string, d fs.DirEntry) error) error {
	return filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(src, p)
		if err != nil {
			return err
		}
		if rel != "." && skip(d.Name()) {
			if d.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		return visit(p, rel, d)
	})
}

// copyTree copies src into a new dst, skipping build outputs.
func copyTree(src, dst string) error {
	return walkTree(src, isBuildOutput, func(p, rel string, d fs.DirEntry) error {
		target := filepath.Join(dst, rel)
		switch {
		case d.IsDir():
			return os.MkdirAll(target, 0o755)
		case d.Type()&fs.ModeSymlink != 0:
			link, err := os.Readlink(p)
			if err != nil {
				return err
			}
			return os.Symlink(link, target)
		case d.Type().IsRegular():
			return copyFile(p, target)
		}
		return nil
	})
}

func copyFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	st, err := in.Stat()
	if err != nil {
		return err
	}
	out, err := os.OpenFile(dst, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, st.Mode().Perm())
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

// jobs is make's -j for this machine.
func jobs() string { return "-j" + strconv.Itoa(runtime.NumCPU()) }

func exists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

// freshCopy replaces dst with a copy of src, under a lock shared with other
// harness runs using the same cache. The caller must call unlock.
func freshCopy(ctx context.Context, src, dst string) (unlock func(), err error) {
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return nil, fmt.Errorf("creating build directory: %w", err)
	}
	unlock, err = lockFile(ctx, dst+".lock")
	if err != nil {
		return nil, err
	}
	if err := os.RemoveAll(dst); err != nil {
		unlock()
		return nil, fmt.Errorf("cleaning %s: %w", dst, err)
	}
	if err := copyTree(src, dst); err != nil {
		unlock()
		return nil, fmt.Errorf("copying %s to %s: %w", src, dst, err)
	}
	return unlock, nil
}

// checkoutKey names a checkout in build directory names. $KS_CACHE is
// shared by every checkout on the machine (worktrees, a CI clone, a
// fresh-check root), and the copies there are read again after the lock
// is dropped (the initramfs packs them later): keyed by kernel or arch
// alone, a run in another checkout replaced them in between, and a run
// booted the other branch's selftests or module.
func checkoutKey(repo string) string {
	if abs, err := filepath.Abs(repo); err == nil {
		repo = abs
	}
	sum := sha256.Sum256([]byte(repo))
	return hex.EncodeToString(sum[:4])
}

// errNotYet marks a part of the tree that does not exist yet; the harness
// says so and goes on without it.
var errNotYet = errors.New("not in the tree yet")

// buildModules builds kernel/ against k in $KS_CACHE/build/<label>-<release>/
// (kbuild writes into the source directory, so each kernel gets a copy) and
// returns the .ko files.
func buildModules(ctx context.Context, env *Env, repo string, k *Kernel) ([]string, error) {
	src := filepath.Join(repo, "kernel")
	if !exists(filepath.Join(src, "Makefile")) {
		return nil, fmt.Errorf("kernel/Makefile: %w", errNotYet)
	}
	dir := filepath.Join(env.Cache, "build", k.Label+"-"+k.Release+"-"+checkoutKey(repo))
	unlock, err := freshCopy(ctx, src, dir)
	if err != nil {
		return nil, err
	}
	defer unlock()
	args := append([]string{"-C", dir, jobs(), "KDIR=" + k.KDIR}, k.Arch.MakeVars...)
	if err := run(ctx, env, "", "make", args...); err != nil {
		return nil, fmt.Errorf("building kernel modules for %s: %w", k.Label, err)
	}
	var kos []string
	err = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() && strings.HasSuffix(p, ".ko") {
			kos = append(kos, p)
		}
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("collecting built modules: %w", err)
	}
	if len(kos) == 0 {
		return nil, fmt.Errorf("building kernel modules for %s: make succeeded but produced no .ko in %s", k.Label, dir)
	}
	return kos, nil
}

// buildSelftests builds selftests/ (the contract suite and its static
// helper) for arch in a copy and returns the copy's directory.
func buildSelftests(ctx context.Context, env *Env, repo string, arch Arch) (string, error) {
	src := filepath.Join(repo, "selftests")
	if !exists(filepath.Join(src, selftestScript)) {
		return "", fmt.Errorf("selftests/%s: %w", selftestScript, errNotYet)
	}
	dir := filepath.Join(env.Cache, "build", "selftests-"+arch.Name+"-"+checkoutKey(repo))
	unlock, err := freshCopy(ctx, src, dir)
	if err != nil {
		return "", err
	}
	defer unlock()
	if exists(filepath.Join(dir, "Makefile")) {
		args := append([]string{"-C", dir, jobs()}, arch.MakeVars...)
		if err := run(ctx, env, "", "make", args...); err != nil {
			return "", fmt.Errorf("building selftests: %w", err)
		}
	}
	return dir, nil
}

// goBinary is a Go main package installed in the guest.
type goBinary struct {
	Pkg  string // ./cmd/ks-vminit
	Dest string // path in the initramfs
}

// buildGo builds the packages statically for arch into outDir, one go build
// invocation so the compiler works on them in parallel. It returns the host
// path of each binary by package.
func buildGo(ctx context.Context, env *Env, goTool, repo, outDir string, arch Arch, bins []goBinary) (map[string]string, error) {
	if err := os.MkdirAll(outDir, 0o755); err != nil {
		return nil, fmt.Errorf("creating %s: %w", outDir, err)
	}
	// No VCS stamping: a checkout owned by another user than the one
	// running the tests would make go build fail.
	args := []string{"build", "-trimpath", "-buildvcs=false", "-ldflags=-s -w", "-o", outDir + "/"}
	out := map[string]string{}
	names := map[string]string{}
	for _, b := range bins {
		name := filepath.Base(b.Pkg)
		if other, dup := names[name]; dup {
			return nil, fmt.Errorf("go packages %s and %s would build the same binary name %s", other, b.Pkg, name)
		}
		names[name] = b.Pkg
		args = append(args, b.Pkg)
		out[b.Pkg] = filepath.Join(outDir, name)
	}
	extra := []string{"CGO_ENABLED=0", "GOOS=linux", "GOARCH=" + arch.GOARCH}
	if err := runEnv(ctx, env, repo, extra, goTool, args...); err != nil {
		return nil, fmt.Errorf("building guest Go binaries: %w", err)
	}
	return out, nil
}
