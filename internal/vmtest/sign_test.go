package vmtest

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/killswitch/killswitch/internal/testkernel"
	"github.com/killswitch/killswitch/internal/vmtest/guest"
)

// signFixture is what scripts/sign-modules needs, made in a temporary
// directory: a key pair, a second key, a kernel tree with module signing
// and Debian's sign-file, and a small ELF file with a .modinfo section,
// which is all modinfo and sign-file look at.
type signFixture struct {
	dir, kdir, key, cert, certDER, otherKey, module string
}

func newSignFixture(t *testing.T) *signFixture {
	t.Helper()
	for _, tool := range []string{"openssl", "modinfo", "gcc", "apt-get", "dpkg-deb"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("%s is needed to test scripts/sign-modules: %v (scripts/ensure-deps installs it)", tool, err)
		}
	}
	d := t.TempDir()
	f := &signFixture{
		dir: d, kdir: filepath.Join(d, "kdir"),
		key: filepath.Join(d, "mok.key"), cert: filepath.Join(d, "mok.pem"), certDER: filepath.Join(d, "mok.der"),
		otherKey: filepath.Join(d, "other.key"), module: filepath.Join(d, "killswitch.ko"),
	}
	sh(t, d, "openssl", "req", "-new", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-sha256",
		"-subj", "/CN=sign-modules test key/", "-addext", "extendedKeyUsage=codeSigning",
		"-keyout", f.key, "-out", f.cert)
	sh(t, d, "openssl", "x509", "-in", f.cert, "-outform", "DER", "-out", f.certDER)
	sh(t, d, "openssl", "genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048", "-out", f.otherKey)

	if err := os.MkdirAll(filepath.Join(f.kdir, "scripts"), 0o755); err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(f.kdir, ".config"), 0o644, "CONFIG_MODULES=y\nCONFIG_MODULE_SIG=y\nCONFIG_MODULE_SIG_HASH=\"sha256\"\n")
	if err := os.Symlink(signFile(t), filepath.Join(f.kdir, "scripts", "sign-file")); err != nil {
		t.Fatal(err)
	}

	src := filepath.Join(d, "mod.c")
	writeFile(t, src, 0o644, "__attribute__((section(\".modinfo\"), used)) static const char l[] = \"license=GPL\";\nint x;\n")
	sh(t, d, "gcc", "-c", "-o", f.module, src)
	return f
}

// signFile is Debian's build of the kernel's sign-file, from the
// linux-kbuild package that linux-headers-<arch> currently depends on:
// downloaded and unpacked (not installed) once per test binary into a
// temporary directory, so the test needs no kernel source on the machine
// and nothing an earlier run left. apt-get download needs only the
// package lists, which the harness needs too.
func signFile(t *testing.T) string {
	t.Helper()
	signFileOnce.Do(func() { signFilePath, signFileErr = fetchSignFile() })
	if signFileErr != nil {
		t.Fatalf("getting Debian's sign-file: %v", signFileErr)
	}
	return signFilePath
}

var (
	signFileOnce sync.Once
	signFilePath string
	signFileErr  error
)

func fetchSignFile() (string, error) {
	ctx := context.Background()
	arch, err := output(ctx, "", "dpkg", "--print-architecture")
	if err != nil {
		return "", err
	}
	meta := "linux-headers-" + strings.TrimSpace(arch)
	pkgs, err := showPackages(ctx, aptCLI{}, meta)
	if err != nil {
		return "", err
	}
	headers, ok := firstMatch(dependNames(pkgs[meta]["Depends"]), headersPkgRE)
	if !ok {
		return "", fmt.Errorf("%s depends on no linux-headers-* package", meta)
	}
	if pkgs, err = showPackages(ctx, aptCLI{}, headers); err != nil {
		return "", err
	}
	kbuild, ok := firstMatch(dependNames(pkgs[headers]["Depends"]), kbuildPkgRE)
	if !ok {
		return "", fmt.Errorf("%s depends on no linux-kbuild-* package", headers)
	}
	if pkgs, err = showPackages(ctx, aptCLI{}, kbuild); err != nil {
		return "", err
	}
	pkg := pkgs[kbuild].pkg()
	// Not t.TempDir: the tests share it. The OS cleans /tmp; the file is
	// 1.5 MB.
	dir, err := os.MkdirTemp("", "ks-sign-file-")
	if err != nil {
		return "", err
	}
	env := &Env{Log: io.Discard}
	if err := run(ctx, env, dir, "apt-get", "download", "-q", pkg.String()); err != nil {
		return "", fmt.Errorf("apt-get download %s: %w", pkg, err)
	}
	root := filepath.Join(dir, "root")
	if err := run(ctx, env, "", "dpkg-deb", "-x", filepath.Join(dir, pkg.filename()), root); err != nil {
		return "", fmt.Errorf("unpacking %s: %w", pkg, err)
	}
	m, _ := filepath.Glob(filepath.Join(root, "usr", "lib", "linux-kbuild-*", "scripts", "sign-file"))
	if len(m) != 1 {
		return "", fmt.Errorf("%s holds %d usr/lib/linux-kbuild-*/scripts/sign-file, want 1", pkg, len(m))
	}
	return m[0], nil
}

func sh(t *testing.T, dir, name string, args ...string) string {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return string(out)
}

// signModulesScript runs scripts/sign-modules and returns its output and
// whether it succeeded.
func signModulesScript(t *testing.T, args ...string) (string, bool) {
	t.Helper()
	repo, err := FindRepo()
	if err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(filepath.Join(repo, signScript), args...).CombinedOutput()
	return string(out), err == nil
}

func TestSignModules(t *testing.T) {
	f := newSignFixture(t)
	serial := strings.TrimPrefix(strings.TrimSpace(sh(t, f.dir, "openssl", "x509", "-in", f.cert, "-noout", "-serial")), "serial=")
	sigKey := func() string {
		return strings.ToUpper(strings.ReplaceAll(strings.TrimSpace(sh(t, f.dir, "modinfo", "-F", "sig_key", f.module)), ":", ""))
	}
	for _, cert := range []string{f.cert, f.certDER} {
		out, ok := signModulesScript(t, "--kdir", f.kdir, "--key", f.key, "--cert", cert, f.module)
		if !ok {
			t.Fatalf("signing with %s failed:\n%s", filepath.Base(cert), out)
		}
		if !strings.Contains(out, "signer=sign-modules test key") || !strings.Contains(out, "sig_hashalgo=sha256") {
			t.Errorf("signing with %s: output does not show modinfo's signer and hash:\n%s", filepath.Base(cert), out)
		}
		if got := sigKey(); strings.TrimLeft(got, "0") != strings.TrimLeft(strings.ToUpper(serial), "0") {
			t.Errorf("modinfo sig_key %s, want the certificate's serial %s", got, serial)
		}
	}
	// Signed twice: the second signature replaced the first.
	signed, err := os.ReadFile(f.module)
	if err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(string(signed), "~Module signature appended~\n"); n != 1 {
		t.Errorf("module carries %d signatures after re-signing, want 1", n)
	}
}

func TestSignModulesRefuses(t *testing.T) {
	f := newSignFixture(t)
	noSig := filepath.Join(f.dir, "nosig")
	if err := os.MkdirAll(filepath.Join(noSig, "scripts"), 0o755); err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(noSig, ".config"), 0o644, "CONFIG_MODULES=y\n# CONFIG_MODULE_SIG is not set\n")
	noConfig := t.TempDir()
	noTool := filepath.Join(f.dir, "notool")
	if err := os.MkdirAll(noTool, 0o755); err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(noTool, ".config"), 0o644, "CONFIG_MODULE_SIG=y\n")
	missing := filepath.Join(f.dir, "missing")
	compressed := filepath.Join(f.dir, "killswitch.ko.xz")
	writeFile(t, compressed, 0o644, "xz data")

	before, err := os.ReadFile(f.module)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"module not built", []string{"--kdir", f.kdir, "--key", f.key, "--cert", f.cert, missing + ".ko"}, "is not built: run make modules"},
		{"compressed module", []string{"--kdir", f.kdir, "--key", f.key, "--cert", f.cert, compressed}, "is compressed: the signature goes inside"},
		{"no key given", []string{"--kdir", f.kdir, "--key", "", "--cert", f.cert, f.module}, "no key given: KEY="},
		{"key missing", []string{"--kdir", f.kdir, "--key", missing, "--cert", f.cert, f.module}, "key " + missing + ": no such file"},
		{"cert missing", []string{"--kdir", f.kdir, "--key", f.key, "--cert", missing, f.module}, "certificate " + missing + ": no such file"},
		{"cert given as key", []string{"--kdir", f.kdir, "--key", f.cert, "--cert", f.cert, f.module}, "is not a PEM private key"},
		{"key given as cert", []string{"--kdir", f.kdir, "--key", f.key, "--cert", f.key, f.module}, "is not an X.509 certificate in PEM or DER form"},
		{"key and cert do not match", []string{"--kdir", f.kdir, "--key", f.otherKey, "--cert", f.cert, f.module}, "do not match"},
		{"kdir missing", []string{"--kdir", missing, "--key", f.key, "--cert", f.cert, f.module}, "kernel build tree " + missing + " does not exist"},
		{"kdir without config", []string{"--kdir", noConfig, "--key", f.key, "--cert", f.cert, f.module}, "has no .config"},
		{"kernel without module signing", []string{"--kdir", noSig, "--key", f.key, "--cert", f.cert, f.module}, "CONFIG_MODULE_SIG is not set"},
		{"no sign-file", []string{"--kdir", noTool, "--key", f.key, "--cert", f.cert, f.module}, "no signing tool"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.name == "no sign-file" {
				if _, err := exec.LookPath("kmodsign"); err == nil {
					t.Skip("kmodsign is installed: the script falls back to it")
				}
			}
			out, ok := signModulesScript(t, tc.args...)
			if ok {
				t.Fatalf("succeeded, want an error containing %q:\n%s", tc.want, out)
			}
			if !strings.Contains(out, tc.want) {
				t.Errorf("error does not say %q:\n%s", tc.want, out)
			}
			after, err := os.ReadFile(f.module)
			if err != nil {
				t.Fatal(err)
			}
			if string(after) != string(before) {
				t.Errorf("the module was changed although signing was refused")
			}
		})
	}
}

// TestSignModulesForKernel: the harness's signing of a kernel's modules
// leaves the originals alone, signs the copies and returns the refused
// variants of killswitch.ko for the initramfs.
func TestSignModulesForKernel(t *testing.T) {
	f := newSignFixture(t)
	repo, err := FindRepo()
	if err != nil {
		t.Fatal(err)
	}
	orig, err := os.ReadFile(f.module)
	if err != nil {
		t.Fatal(err)
	}
	k := &Kernel{Label: "signing", KDIR: f.kdir, SigningKey: f.key, SigningCert: f.cert}
	env := &Env{Log: io.Discard}
	signed, refused, err := signModules(context.Background(), env, repo, k, []string{f.module}, filepath.Join(f.dir, "out"))
	if err != nil {
		t.Fatal(err)
	}
	const magic = "~Module signature appended~\n"
	if now, _ := os.ReadFile(f.module); string(now) != string(orig) {
		t.Errorf("the original module was changed")
	}
	if len(signed) != 1 || signed[0] == f.module {
		t.Fatalf("signed = %q, want one copy", signed)
	}
	data, err := os.ReadFile(signed[0])
	if err != nil || !strings.HasSuffix(string(data), magic) {
		t.Errorf("the copy is not signed (err %v)", err)
	}
	if got := string(refused[unsignedModule]); got != string(orig) {
		t.Errorf("%s is not the unsigned module", unsignedModule)
	}
	other := string(refused[untrustedModule])
	if !strings.HasSuffix(other, magic) || !strings.HasPrefix(other, string(orig)) || other == string(data) {
		t.Errorf("%s is not the module signed with another key", untrustedModule)
	}
	if len(refused) != 2 {
		t.Errorf("refused holds %d modules, want 2", len(refused))
	}
}

// TestLockdownKernels: the Secure Boot labels boot the base test kernel
// with signatures enforced and lockdown on, sign with its test key and run
// only their suites; ks-6.1 itself stays as it was.
func TestLockdownKernels(t *testing.T) {
	dir := t.TempDir()
	tk := &testkernel.Kernel{
		Dir: dir, KDIR: filepath.Join(dir, "build"), Release: "6.1.192-ks",
		ModulesDir:  filepath.Join(dir, "modroot"),
		SigningKey:  filepath.Join(dir, "certs", "key.pem"),
		SigningCert: filepath.Join(dir, "certs", "cert.pem"),
	}
	writeFile(t, filepath.Join(tk.ModulesDir, "kernel", "net", "veth.ko"), 0o644, "")
	cat := DefaultCatalog()
	for label, want := range map[string]struct {
		cmdline, suites string
		signs           bool
	}{
		"ks-6.1":                 {"", "30-engagebpf,40-bpf-load*,90-stress,91-fuzz,95-adversary", false},
		"ks-6.1-debug":           {"", "10-selftest,90-stress,91-fuzz,95-adversary", false},
		"ks-6.1-integrity":       {"module.sig_enforce=1 lockdown=integrity", "80-secureboot,70-privilege,95-adversary", true},
		"ks-6.1-confidentiality": {"module.sig_enforce=1 lockdown=confidentiality", "80-secureboot,70-privilege,95-adversary", true},
	} {
		src, ok := cat[label].(testKernelSource)
		if !ok {
			t.Fatalf("%s is not a test kernel source in the catalog", label)
		}
		if !strings.Contains(DefaultKernels, label) {
			t.Errorf("%s is not in DefaultKernels: make test would not boot it", label)
		}
		k, err := src.describe(tk)
		if err != nil {
			t.Fatalf("%s: %v", label, err)
		}
		if got := strings.Join(k.Cmdline, " "); got != want.cmdline {
			t.Errorf("%s: Cmdline %q, want %q", label, got, want.cmdline)
		}
		if k.Suites != want.suites {
			t.Errorf("%s: Suites %q, want %q", label, k.Suites, want.suites)
		}
		if signs := k.SigningKey == tk.SigningKey && k.SigningCert == tk.SigningCert; signs != want.signs {
			t.Errorf("%s: signs with the test key = %v, want %v", label, signs, want.signs)
		}
	}
	// The suites ks-6.1 runs are what it was built for: a skip fails.
	if k, err := cat["ks-6.1"].(testKernelSource).describe(tk); err != nil || k.Env[guest.NoSkipEnv] != "1" {
		t.Errorf("ks-6.1 does not set %s=1 (err %v): its suites could skip what it was built to run", guest.NoSkipEnv, err)
	}
	tk.SigningKey = ""
	if _, err := (testKernelSource{label: "ks-6.1-integrity", lockdown: "integrity"}).describe(tk); err == nil || !strings.Contains(err.Error(), "no signing key") {
		t.Errorf("a test kernel without a signing key: err %v, want one naming the missing key", err)
	}
}
