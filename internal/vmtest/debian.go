package vmtest

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
)

// debianKernel is the exact set of packages that make one Debian kernel
// bootable (image) and buildable against (headers, common headers, kbuild).
// Busybox, when set, is a static busybox for the kernel's architecture,
// unpacked with the kernel (a foreign architecture cannot use the host's).
type debianKernel struct {
	Image, Headers, Common, Kbuild debPackage
	Busybox                        debPackage
}

func (k debianKernel) packages() []debPackage {
	pkgs := []debPackage{k.Image, k.Headers, k.Common, k.Kbuild}
	if k.Busybox.Name != "" {
		pkgs = append(pkgs, k.Busybox)
	}
	return pkgs
}

// stamp is written last into a complete extraction; a different stamp
// (a package update) means the extraction is stale.
func (k debianKernel) stamp() string {
	var b strings.Builder
	for _, p := range k.packages() {
		fmt.Fprintf(&b, "%s\n", p)
	}
	return b.String()
}

// debianSource is a Debian stock kernel, resolved through apt to exact
// versions at each run, downloaded and unpacked (never installed) into
// $KS_CACHE/debian/<image>_<version>/.
type debianSource struct {
	label   string
	resolve func(ctx context.Context, apt aptClient) (debianKernel, error)
	// arch describes the machine of an unpacked tree (X86_64 when nil).
	arch func(root string) Arch
}

// Debian61 is bookworm's default kernel: whatever linux-image-amd64 and
// linux-headers-amd64 currently depend on.
func Debian61() Source {
	return &debianSource{label: "debian-6.1", resolve: resolveDebianMeta}
}

// Debian612 is the newest 6.12 kernel bookworm ships (from
// bookworm-security/backports builds named linux-image-6.12.N+deb12-amd64).
func Debian612() Source {
	return &debianSource{label: "debian-6.12", resolve: resolveDebian612}
}

var (
	imagePkgRE   = regexp.MustCompile(`^linux-image-`)
	headersPkgRE = regexp.MustCompile(`^linux-headers-`)
	commonPkgRE  = regexp.MustCompile(`^linux-headers-.*-common$`)
	kbuildPkgRE  = regexp.MustCompile(`^linux-kbuild-`)
	image612RE   = regexp.MustCompile(`^linux-image-(6\.12\.\d+)\+deb12-amd64-unsigned$`)
)

func resolveDebianMeta(ctx context.Context, apt aptClient) (debianKernel, error) {
	meta, err := showPackages(ctx, apt, "linux-image-amd64", "linux-headers-amd64")
	if err != nil {
		return debianKernel{}, err
	}
	image, ok := firstMatch(dependNames(meta["linux-image-amd64"]["Depends"]), imagePkgRE)
	if !ok {
		return debianKernel{}, fmt.Errorf("linux-image-amd64 depends on no linux-image-* package")
	}
	headers, ok := firstMatch(dependNames(meta["linux-headers-amd64"]["Depends"]), headersPkgRE)
	if !ok {
		return debianKernel{}, fmt.Errorf("linux-headers-amd64 depends on no linux-headers-* package")
	}
	return resolveDebianKernel(ctx, apt, image, headers)
}

func resolveDebian612(ctx context.Context, apt aptClient) (debianKernel, error) {
	names, err := apt.PkgNames(ctx, "linux-image-6.12.")
	if err != nil {
		return debianKernel{}, fmt.Errorf("listing linux-image-6.12.* with apt-cache: %w", err)
	}
	image, version, ok := newestByVersion(strings.Split(names, "\n"), image612RE)
	if !ok {
		return debianKernel{}, fmt.Errorf("apt knows no linux-image-6.12.*+deb12-amd64-unsigned package (is bookworm-security in the apt sources? run apt-get update)")
	}
	return resolveDebianKernel(ctx, apt, image, "linux-headers-"+version+"+deb12-amd64")
}

// resolveDebianKernel pins the image, its headers and the headers'
// -common and kbuild dependencies to their candidate versions.
func resolveDebianKernel(ctx context.Context, apt aptClient, image, headers string) (debianKernel, error) {
	pkgs, err := showPackages(ctx, apt, image, headers)
	if err != nil {
		return debianKernel{}, err
	}
	k := debianKernel{Image: pkgs[image].pkg(), Headers: pkgs[headers].pkg()}
	if k.Image.Version != k.Headers.Version {
		return debianKernel{}, fmt.Errorf("%s is at %s but %s at %s: modules would not match the kernel (mirror mid-update? retry after apt-get update)",
			image, k.Image.Version, headers, k.Headers.Version)
	}
	deps := dependNames(pkgs[headers]["Depends"])
	common, ok := firstMatch(deps, commonPkgRE)
	if !ok {
		return debianKernel{}, fmt.Errorf("%s depends on no linux-headers-*-common package", headers)
	}
	kbuild, ok := firstMatch(deps, kbuildPkgRE)
	if !ok {
		return debianKernel{}, fmt.Errorf("%s depends on no linux-kbuild-* package", headers)
	}
	more, err := showPackages(ctx, apt, common, kbuild)
	if err != nil {
		return debianKernel{}, err
	}
	k.Common, k.Kbuild = more[common].pkg(), more[kbuild].pkg()
	return k, nil
}

const stampFile = ".ks-complete"

func (s *debianSource) Acquire(ctx context.Context, env *Env) (*Kernel, error) {
	pk, err := s.resolve(ctx, aptCLI{})
	if err != nil {
		return nil, fmt.Errorf("resolving %s packages: %w", s.label, err)
	}
	dir := filepath.Join(env.Cache, "debian")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("creating kernel cache: %w", err)
	}
	root := filepath.Join(dir, pk.Image.Name+"_"+pk.Image.Version)
	unlock, err := lockFile(ctx, root+".lock")
	if err != nil {
		return nil, err
	}
	defer unlock()
	if got, err := os.ReadFile(filepath.Join(root, stampFile)); err == nil && string(got) == pk.stamp() {
		return s.kernel(root)
	}
	env.Logf("%s: fetching %s", s.label, strings.Join(pkgStrings(pk.packages()), " "))
	if err := extractDebianKernel(ctx, env, pk, root); err != nil {
		return nil, fmt.Errorf("preparing %s: %w", s.label, err)
	}
	return s.kernel(root)
}

func pkgStrings(pkgs []debPackage) []string {
	s := make([]string, len(pkgs))
	for i, p := range pkgs {
		s[i] = p.String()
	}
	return s
}

// extractDebianKernel downloads the packages and unpacks them into a fresh
// directory that replaces root only once it is complete.
func extractDebianKernel(ctx context.Context, env *Env, pk debianKernel, root string) error {
	tmp, err := os.MkdirTemp(filepath.Dir(root), ".extract-")
	if err != nil {
		return fmt.Errorf("creating extraction directory: %w", err)
	}
	defer os.RemoveAll(tmp)
	debs := filepath.Join(tmp, "debs")
	fsroot := filepath.Join(tmp, "root")
	for _, d := range []string{debs, fsroot} {
		if err := os.Mkdir(d, 0o755); err != nil {
			return fmt.Errorf("creating extraction directory: %w", err)
		}
	}
	if err := run(ctx, env, debs, "apt-get", append([]string{"download", "-q"}, pkgStrings(pk.packages())...)...); err != nil {
		return fmt.Errorf("downloading packages: %w", err)
	}
	// All into one root, so the packages' relative symlinks (headers ->
	// common, scripts -> kbuild) resolve.
	for _, p := range pk.packages() {
		if err := run(ctx, env, "", "dpkg-deb", "-x", filepath.Join(debs, p.filename()), fsroot); err != nil {
			return fmt.Errorf("unpacking %s: %w", p, err)
		}
	}
	release, err := imageRelease(fsroot)
	if err != nil {
		return err
	}
	if err := fixupDebianTree(fsroot, release); err != nil {
		return err
	}
	if err := run(ctx, env, "", findTool("depmod"), "-b", fsroot, release); err != nil {
		return fmt.Errorf("generating modules.dep (the .deb ships none; depmod comes with kmod): %w", err)
	}
	if err := os.WriteFile(filepath.Join(fsroot, stampFile), []byte(pk.stamp()), 0o644); err != nil {
		return fmt.Errorf("writing cache stamp: %w", err)
	}
	if err := os.RemoveAll(root); err != nil {
		return fmt.Errorf("removing stale %s: %w", root, err)
	}
	if err := os.Rename(fsroot, root); err != nil {
		return fmt.Errorf("moving extracted kernel into place: %w", err)
	}
	return nil
}

// imageRelease finds the kernel release from the one boot/vmlinuz-* file.
func imageRelease(root string) (string, error) {
	images, err := filepath.Glob(filepath.Join(root, "boot", "vmlinuz-*"))
	if err != nil || len(images) != 1 {
		return "", fmt.Errorf("expected one boot/vmlinuz-* in %s, found %d", root, len(images))
	}
	return strings.TrimPrefix(filepath.Base(images[0]), "vmlinuz-"), nil
}

var absIncludeRE = regexp.MustCompile(`(?m)^include /usr/src/(\S+)$`)

// fixupDebianTree makes the unpacked headers usable where they are:
// Debian's headers Makefile includes the -common Makefile by absolute
// /usr/src path, and the modules dir's build/source links are absolute.
func fixupDebianTree(root, release string) error {
	kdir := filepath.Join(root, "usr", "src", "linux-headers-"+release)
	mk := filepath.Join(kdir, "Makefile")
	data, err := os.ReadFile(mk)
	if err != nil {
		return fmt.Errorf("reading headers Makefile: %w", err)
	}
	fixed := absIncludeRE.ReplaceAll(data, []byte(
		"# ks-vmtest: the package's absolute /usr/src include, made relative to this file.\n"+
			"include $$(dir $$(lastword $$(MAKEFILE_LIST)))../${1}"))
	if err := os.WriteFile(mk, fixed, 0o644); err != nil {
		return fmt.Errorf("rewriting headers Makefile: %w", err)
	}
	mods := filepath.Join(root, "lib", "modules", release)
	for _, link := range []string{"build", "source"} {
		p := filepath.Join(mods, link)
		target, err := os.Readlink(p)
		if errors.Is(err, os.ErrNotExist) {
			continue
		} else if err != nil {
			return fmt.Errorf("reading %s link: %w", link, err)
		}
		if !filepath.IsAbs(target) {
			continue
		}
		rel, err := filepath.Rel(mods, filepath.Join(root, target))
		if err != nil {
			return fmt.Errorf("relativising %s link: %w", link, err)
		}
		if err := os.Remove(p); err != nil {
			return fmt.Errorf("replacing %s link: %w", link, err)
		}
		if err := os.Symlink(rel, p); err != nil {
			return fmt.Errorf("replacing %s link: %w", link, err)
		}
	}
	return nil
}

// kernel describes a complete extraction.
func (s *debianSource) kernel(root string) (*Kernel, error) {
	release, err := imageRelease(root)
	if err != nil {
		return nil, err
	}
	arch := X86_64()
	if s.arch != nil {
		arch = s.arch(root)
	}
	k := &Kernel{
		Label:      s.label,
		Arch:       arch,
		Release:    release,
		Image:      filepath.Join(root, "boot", "vmlinuz-"+release),
		ModulesDir: filepath.Join(root, "lib", "modules", release),
		KDIR:       filepath.Join(root, "usr", "src", "linux-headers-"+release),
		Config:     filepath.Join(root, "boot", "config-"+release),
	}
	for _, p := range []string{k.ModulesDir + "/modules.dep", k.KDIR + "/Makefile"} {
		if _, err := os.Stat(p); err != nil {
			return nil, fmt.Errorf("%s: incomplete kernel tree (remove %s to refetch): %w", s.label, root, err)
		}
	}
	return k, nil
}
