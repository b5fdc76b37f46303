// This file owns the build: cache key, source extraction, configuration,
// the configuration check, compilation and the stamp.

package testkernel

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"syscall"
	"time"

	"github.com/killswitch/killswitch/internal/flock"
)

// SourcePackage is the Debian package the kernels are built from.
const SourcePackage = "linux-source-6.1"

// formatVersion changes whenever this file changes what a cache directory
// holds, so old layouts are never mistaken for new ones.
const formatVersion = "2"

// BaseVariant is the kernel every suite uses unless it needs another.
const BaseVariant = "base"

// Options say what to build and where.
type Options struct {
	Variant   string    // "base" or the name of test/kernels/<variant>.config
	Fragments string    // directory of base.config and the variants; found from the working directory if empty
	Cache     string    // cache root; $KS_CACHE or /var/cache/killswitch if empty
	Jobs      int       // make -j; runtime.NumCPU() if 0
	Log       io.Writer // progress lines; the make output goes to build.log
}

// Kernel is a built test kernel.
type Kernel struct {
	Variant string `json:"variant"`
	Key     string `json:"key"`
	Dir     string `json:"dir"`     // cache directory of this kernel
	Bzimage string `json:"bzimage"` // arch/x86/boot/bzImage
	// KDIR is the O= build directory; `make -C KDIR M=...` builds modules
	// against it.
	KDIR    string `json:"kdir"`
	Release string `json:"release"` // `uname -r` of the kernel
	// ModulesDir is lib/modules/<release> after modules_install: signed,
	// stripped modules and a depmod'ed modules.dep.
	ModulesDir string `json:"modules_dir"`
	// SigningKey and SigningCert are the test key pair (PEM) whose
	// certificate is built into the kernel's trusted keyring: modules
	// signed with it load under module.sig_enforce=1. Sign with
	// KDIR/scripts/sign-file sha256 SigningKey SigningCert <module.ko>.
	SigningKey  string `json:"signing_key"`
	SigningCert string `json:"signing_cert"`
	// BuildSeconds is how long the compile took when it was built.
	BuildSeconds float64 `json:"build_seconds"`
}

// stampName marks a complete build; written last.
const stampName = "kernel.json"

// Cached returns the kernel for opts if a complete build is in the cache,
// without building anything.
func Cached(opts Options) (*Kernel, error) {
	b, err := newBuilder(opts)
	if err != nil {
		return nil, err
	}
	return b.cached()
}

// Build returns the kernel for opts, building it first unless the cache
// already holds a complete build.
func Build(ctx context.Context, opts Options) (*Kernel, error) {
	if err := ensureDeps(opts.Log); err != nil {
		return nil, err
	}
	b, err := newBuilder(opts)
	if err != nil {
		return nil, err
	}
	if k, err := b.cached(); err == nil {
		b.logf("using cached kernel %s", k.Dir)
		return k, nil
	}
	// One build at a time per cache: two labels of one run may share a
	// variant (they would build into the same directory), and every
	// variant shares the extracted source. On two cores builds in
	// parallel gain nothing anyway.
	if err := os.MkdirAll(filepath.Join(b.opts.Cache, "kernels"), 0o755); err != nil {
		return nil, fmt.Errorf("create kernel cache: %w", err)
	}
	unlock, err := flock.Lock(ctx, filepath.Join(b.opts.Cache, "kernels", ".build.lock"))
	if err != nil {
		return nil, err
	}
	defer unlock()
	// Whoever held the lock may have built it meanwhile.
	if k, err := b.cached(); err == nil {
		b.logf("using cached kernel %s", k.Dir)
		return k, nil
	} else if !errors.Is(err, fs.ErrNotExist) {
		b.logf("cached kernel %s unusable, rebuilding: %v", b.dir, err)
	}
	return b.build(ctx)
}

// Prune removes cached builds of opts' variant other than the one opts
// would use now (older sources, fragments or compilers), and returns what
// it removed. Each build takes about a gigabyte.
func Prune(opts Options) ([]string, error) {
	b, err := newBuilder(opts)
	if err != nil {
		return nil, err
	}
	dirs, err := filepath.Glob(filepath.Join(b.opts.Cache, "kernels", "*-"+b.opts.Variant+"-*"))
	if err != nil {
		return nil, fmt.Errorf("list cached kernels: %w", err)
	}
	var removed []string
	for _, d := range dirs {
		if d == b.dir || buildingNow(d) {
			continue
		}
		if err := os.RemoveAll(d); err != nil {
			return removed, fmt.Errorf("remove stale kernel: %w", err)
		}
		removed = append(removed, d)
	}
	return removed, nil
}

// buildingNow guesses whether another process is building into dir: its
// log was written in the last hour and the stamp is missing.
func buildingNow(dir string) bool {
	if _, err := os.Stat(filepath.Join(dir, stampName)); err == nil {
		return false
	}
	fi, err := os.Stat(filepath.Join(dir, "build.log"))
	return err == nil && time.Since(fi.ModTime()) < time.Hour
}

type builder struct {
	opts      Options
	version   string   // source package version
	fragments []string // project fragments, base first
	key       string
	dir       string
	log       io.Writer
}

func newBuilder(opts Options) (*builder, error) {
	if opts.Variant == "" {
		opts.Variant = BaseVariant
	}
	if opts.Cache == "" {
		opts.Cache = CacheDir()
	}
	if opts.Jobs <= 0 {
		opts.Jobs = runtime.NumCPU()
	}
	if opts.Fragments == "" {
		d, err := FindFragments()
		if err != nil {
			return nil, err
		}
		opts.Fragments = d
	}
	// make runs in the source tree: every path handed to it is absolute.
	frags, err := filepath.Abs(opts.Fragments)
	if err != nil {
		return nil, fmt.Errorf("locate config fragments: %w", err)
	}
	opts.Fragments = frags
	if opts.Cache, err = filepath.Abs(opts.Cache); err != nil {
		return nil, fmt.Errorf("locate cache: %w", err)
	}
	b := &builder{opts: opts, log: opts.Log}
	if b.log == nil {
		b.log = io.Discard
	}
	b.fragments = []string{filepath.Join(opts.Fragments, BaseVariant+".config")}
	if opts.Variant != BaseVariant {
		b.fragments = append(b.fragments, filepath.Join(opts.Fragments, opts.Variant+".config"))
	}
	for _, f := range b.fragments {
		if _, err := os.Stat(f); err != nil {
			return nil, fmt.Errorf("test kernel variant %q: config fragment: %w", opts.Variant, err)
		}
	}
	version, err := packageVersion(SourcePackage)
	if err != nil {
		return nil, err
	}
	b.version = version
	key, err := b.cacheKey()
	if err != nil {
		return nil, err
	}
	b.key = key
	b.dir = filepath.Join(opts.Cache, "kernels", key)
	return b, nil
}

// FindFragments looks for test/kernels in the working directory and its
// parents, so tools run from anywhere in the checkout find the fragments.
func FindFragments() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", fmt.Errorf("find test/kernels: %w", err)
	}
	for {
		d := filepath.Join(dir, "test", "kernels")
		if _, err := os.Stat(filepath.Join(d, BaseVariant+".config")); err == nil {
			return d, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("find test/kernels: not in the working directory or any parent (run from the killswitch checkout or pass the fragments directory)")
		}
		dir = parent
	}
}

// CacheDir is $KS_CACHE, or /var/cache/killswitch.
func CacheDir() string {
	if d := os.Getenv("KS_CACHE"); d != "" {
		return d
	}
	return "/var/cache/killswitch"
}

func (b *builder) logf(format string, args ...any) {
	fmt.Fprintf(b.log, "testkernel: "+format+"\n", args...)
}

// cacheKey hashes every input that changes the built kernel.
func (b *builder) cacheKey() (string, error) {
	h := sha256.New()
	fmt.Fprintf(h, "format %s\nsource %s %s\nvariant %s\n", formatVersion, SourcePackage, b.version, b.opts.Variant)
	for _, tool := range [][]string{{"gcc", "--version"}, {"pahole", "--version"}} {
		out, err := exec.Command(tool[0], tool[1:]...).Output()
		if err != nil {
			return "", fmt.Errorf("run %s for the cache key: %w (install build dependencies: %s)", strings.Join(tool, " "), err, depsHint())
		}
		first, _, _ := strings.Cut(string(out), "\n")
		fmt.Fprintf(h, "%s %s\n", tool[0], first)
	}
	for _, f := range b.fragments {
		data, err := os.ReadFile(f)
		if err != nil {
			return "", fmt.Errorf("read config fragment: %w", err)
		}
		fmt.Fprintf(h, "fragment %s %d\n", filepath.Base(f), len(data))
		h.Write(data)
	}
	short := strings.SplitN(b.version, "-", 2)[0] // 6.1.192
	return fmt.Sprintf("%s-%s-%s", short, b.opts.Variant, hex.EncodeToString(h.Sum(nil))[:16]), nil
}

func (b *builder) cached() (*Kernel, error) {
	data, err := os.ReadFile(filepath.Join(b.dir, stampName))
	if err != nil {
		return nil, err
	}
	var k Kernel
	if err := json.Unmarshal(data, &k); err != nil {
		return nil, fmt.Errorf("read stamp %s: %w", filepath.Join(b.dir, stampName), err)
	}
	for _, p := range []string{k.Bzimage, k.KDIR, k.ModulesDir, k.SigningKey, k.SigningCert} {
		if _, err := os.Stat(p); err != nil {
			return nil, fmt.Errorf("cached kernel incomplete: %w", err)
		}
	}
	return &k, nil
}

func (b *builder) build(ctx context.Context) (*Kernel, error) {
	src, err := extractSource(ctx, b.opts.Cache, b.version, b.logf)
	if err != nil {
		return nil, err
	}
	k := &Kernel{
		Variant:     b.opts.Variant,
		Key:         b.key,
		Dir:         b.dir,
		KDIR:        filepath.Join(b.dir, "build"),
		SigningKey:  filepath.Join(b.dir, "certs", "test-signing-key.pem"),
		SigningCert: filepath.Join(b.dir, "certs", "test-signing-cert.pem"),
	}
	if err := os.MkdirAll(k.KDIR, 0o755); err != nil {
		return nil, fmt.Errorf("create build directory: %w", err)
	}
	logFile, err := os.OpenFile(filepath.Join(b.dir, "build.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, fmt.Errorf("open build log: %w", err)
	}
	defer logFile.Close()
	run := func(what string, name string, args ...string) error {
		fmt.Fprintf(logFile, "+ %s %s\n", name, strings.Join(args, " "))
		cmd := commandGroup(ctx, name, args...)
		cmd.Dir = src
		cmd.Stdout = logFile
		cmd.Stderr = logFile
		if err := cmd.Run(); err != nil {
			return fmt.Errorf("%s (%s %s): %w; see %s:\n%s", what, name, strings.Join(args, " "), err, logFile.Name(), tail(logFile.Name(), 25))
		}
		return nil
	}
	makeArgs := func(args ...string) []string {
		return append([]string{"-C", src, "O=" + k.KDIR}, args...)
	}

	if err := genTestKey(ctx, k.SigningKey, k.SigningCert); err != nil {
		return nil, err
	}
	b.logf("configuring %s in %s", b.key, k.KDIR)
	generated := filepath.Join(b.dir, "generated.config")
	local := "-ks"
	if b.opts.Variant != BaseVariant {
		local += "-" + b.opts.Variant
	}
	gen := fmt.Sprintf("# written by internal/testkernel\nCONFIG_LOCALVERSION=%q\nCONFIG_SYSTEM_TRUSTED_KEYS=%q\n", local, k.SigningCert)
	if err := os.WriteFile(generated, []byte(gen), 0o644); err != nil {
		return nil, fmt.Errorf("write generated config fragment: %w", err)
	}
	if err := run("make tinyconfig", "make", makeArgs("tinyconfig")...); err != nil {
		return nil, err
	}
	merge := []string{"-m", "-O", k.KDIR, filepath.Join(k.KDIR, ".config"), filepath.Join(src, "kernel/configs/kvm_guest.config")}
	merge = append(merge, b.fragments...)
	merge = append(merge, generated)
	if err := run("merge config fragments", filepath.Join(src, "scripts/kconfig/merge_config.sh"), merge...); err != nil {
		return nil, err
	}
	if err := run("make olddefconfig", "make", makeArgs("olddefconfig")...); err != nil {
		return nil, err
	}
	if err := CheckConfig(filepath.Join(k.KDIR, ".config"), append(b.fragments[:len(b.fragments):len(b.fragments)], generated)...); err != nil {
		return nil, err
	}

	b.logf("compiling with -j%d (log: %s)", b.opts.Jobs, logFile.Name())
	start := time.Now()
	if err := run("build kernel", "make", makeArgs(fmt.Sprintf("-j%d", b.opts.Jobs), "bzImage", "modules")...); err != nil {
		return nil, err
	}
	k.BuildSeconds = time.Since(start).Seconds()
	b.logf("compiled in %s", time.Since(start).Round(time.Second))

	out, err := exec.CommandContext(ctx, "make", makeArgs("-s", "kernelrelease")...).Output()
	if err != nil {
		return nil, fmt.Errorf("make kernelrelease: %w", err)
	}
	k.Release = strings.TrimSpace(string(out))
	modRoot := filepath.Join(b.dir, "modroot")
	if err := os.RemoveAll(modRoot); err != nil {
		return nil, fmt.Errorf("clear old modules_install output: %w", err)
	}
	if err := run("install modules", "make", makeArgs("INSTALL_MOD_PATH="+modRoot, "INSTALL_MOD_STRIP=1", "modules_install")...); err != nil {
		return nil, err
	}
	k.ModulesDir = filepath.Join(modRoot, "lib", "modules", k.Release)
	k.Bzimage = filepath.Join(k.KDIR, "arch", "x86", "boot", "bzImage")

	stamp, err := json.MarshalIndent(k, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("encode stamp: %w", err)
	}
	if err := writeFileAtomic(filepath.Join(b.dir, stampName), append(stamp, '\n')); err != nil {
		return nil, fmt.Errorf("write stamp: %w", err)
	}
	return b.cached()
}

// commandGroup is exec.CommandContext for a command with children: make
// runs its jobs in its own process group, and cancelling ctx stops the
// whole group instead of leaving compilers running after the build is gone.
func commandGroup(ctx context.Context, name string, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM) }
	cmd.WaitDelay = 30 * time.Second
	return cmd
}

// CheckConfig verifies that every option set in the fragments has the same
// value in the final .config, and that every "# CONFIG_X is not set" line
// is honoured. It names every option that did not stick.
func CheckConfig(dotConfig string, fragments ...string) error {
	final, err := readConfig(dotConfig)
	if err != nil {
		return err
	}
	var bad []string
	for _, f := range fragments {
		want, err := readConfig(f)
		if err != nil {
			return err
		}
		names := make([]string, 0, len(want))
		for n := range want {
			names = append(names, n)
		}
		sort.Strings(names)
		for _, n := range names {
			w, got := want[n], final[n]
			if w == got || (w == "n" && got == "") {
				continue
			}
			if got == "" {
				got = "not set"
			}
			bad = append(bad, fmt.Sprintf("%s=%s (%s): got %s", n, w, filepath.Base(f), got))
		}
	}
	if len(bad) > 0 {
		return fmt.Errorf("%d requested options did not survive olddefconfig (a dependency is missing: add it to the fragment):\n  %s", len(bad), strings.Join(bad, "\n  "))
	}
	return nil
}

// readConfig parses Kconfig output: CONFIG_X=v lines, and "# CONFIG_X is
// not set" as X=n.
func readConfig(path string) (map[string]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("read kernel config: %w", err)
	}
	defer f.Close()
	m := make(map[string]string)
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if name, ok := strings.CutPrefix(line, "# "); ok {
			if name, ok = strings.CutSuffix(name, " is not set"); ok && strings.HasPrefix(name, "CONFIG_") {
				m[name] = "n"
			}
			continue
		}
		if name, val, ok := strings.Cut(line, "="); ok && strings.HasPrefix(name, "CONFIG_") {
			m[name] = val
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read kernel config %s: %w", path, err)
	}
	return m, nil
}

// packageVersion asks dpkg for the installed version of pkg.
func packageVersion(pkg string) (string, error) {
	out, err := exec.Command("dpkg-query", "-W", "-f=${Version}", pkg).Output()
	v := strings.TrimSpace(string(out))
	if err != nil || v == "" {
		return "", fmt.Errorf("find installed version of %s: %v (apt-get install %s)", pkg, errors.Join(err, errOrNil(v == "", "not installed")), pkg)
	}
	return v, nil
}

func errOrNil(cond bool, msg string) error {
	if cond {
		return errors.New(msg)
	}
	return nil
}

// sourceTarball finds the tarball that pkg installed.
func sourceTarball(pkg string) (string, error) {
	out, err := exec.Command("dpkg-query", "-L", pkg).Output()
	if err != nil {
		return "", fmt.Errorf("list files of %s: %w", pkg, err)
	}
	for _, l := range strings.Split(string(out), "\n") {
		if strings.HasPrefix(l, "/usr/src/") && strings.HasSuffix(l, ".tar.xz") {
			return l, nil
		}
	}
	return "", fmt.Errorf("%s installed no /usr/src/*.tar.xz (reinstall it: apt-get install --reinstall %s)", pkg, pkg)
}

// extractSource unpacks the source tarball once per package version under
// cache/src and returns the tree. Kernel sources get their own directory:
// Kbuild's clean removes every *.mod under M=, a go.mod included.
func extractSource(ctx context.Context, cache, version string, logf func(string, ...any)) (string, error) {
	dir := filepath.Join(cache, "src", SourcePackage+"_"+version)
	tree := filepath.Join(dir, SourcePackage)
	if _, err := os.Stat(filepath.Join(dir, ".complete")); err == nil {
		return tree, nil
	}
	tarball, err := sourceTarball(SourcePackage)
	if err != nil {
		return "", err
	}
	logf("extracting %s to %s", tarball, dir)
	if err := os.RemoveAll(dir); err != nil {
		return "", fmt.Errorf("clear partial source tree: %w", err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", fmt.Errorf("create source directory: %w", err)
	}
	cmd := exec.CommandContext(ctx, "tar", "-xf", tarball, "-C", dir)
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("extract %s: %w: %s", tarball, err, out)
	}
	if _, err := os.Stat(filepath.Join(tree, "Makefile")); err != nil {
		return "", fmt.Errorf("extracted %s but found no kernel tree: %w", tarball, err)
	}
	if err := os.WriteFile(filepath.Join(dir, ".complete"), nil, 0o644); err != nil {
		return "", fmt.Errorf("mark source tree complete: %w", err)
	}
	return tree, nil
}

// genTestKey makes the test module-signing key pair once per kernel. It
// stands in for an operator's MOK: the certificate goes into the kernel's
// trusted keyring (CONFIG_SYSTEM_TRUSTED_KEYS).
func genTestKey(ctx context.Context, key, cert string) error {
	if _, err := os.Stat(cert); err == nil {
		if _, err := os.Stat(key); err == nil {
			return nil
		}
	}
	if err := os.MkdirAll(filepath.Dir(key), 0o700); err != nil {
		return fmt.Errorf("create test key directory: %w", err)
	}
	cmd := exec.CommandContext(ctx, "openssl", "req", "-new", "-nodes", "-utf8", "-sha256", "-days", "36500",
		"-batch", "-x509", "-newkey", "rsa:2048",
		"-subj", "/CN=killswitch test module signing key/",
		"-addext", "basicConstraints=critical,CA:FALSE",
		"-addext", "keyUsage=digitalSignature",
		"-addext", "subjectKeyIdentifier=hash",
		"-addext", "extendedKeyUsage=codeSigning",
		"-keyout", key, "-out", cert)
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("generate test signing key with openssl: %w: %s", err, out)
	}
	return nil
}

func writeFileAtomic(path string, data []byte) error {
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, data, 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

// tail returns the last n lines of a file, for error messages.
func tail(path string, n int) string {
	data, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	lines := strings.Split(strings.TrimRight(string(data), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return string(bytes.TrimSpace([]byte(strings.Join(lines, "\n"))))
}
