package vmtest

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"debug/elf"
	"fmt"
	"io"
	"os"
	"path"
	"sort"
	"strings"

	"github.com/klauspost/compress/zstd"
	"github.com/ulikunitz/xz"
)

// DefaultStockModules are the distribution modules every VM gets (with their
// dependencies): the crypto user API and ESP/XFRM for the CVE demonstrators,
// veth and bridge for network namespaces, kTLS, and the crypto templates
// AEAD and ESP transforms use (gcm(aes), rfc4106, authenc(hmac,cbc)). The
// kernel finds templates at run time through request_module("crypto-gcm"),
// not through modules.dep, so they must be listed here; the generated
// modules.alias lets modprobe resolve those requests.
func DefaultStockModules() []string {
	return []string{
		"af_alg", "algif_skcipher", "algif_aead", "algif_hash",
		"esp4", "esp6", "xfrm_user", "xfrm_algo", "veth", "tls", "bridge",
		"gcm", "ghash_generic", "ctr", "seqiv", "echainiv", "authenc", "authencesn",
		// seqiv and echainiv (ESP's IV generators) draw their salt from the
		// crypto API's default RNG, "stdrng": drbg, whose preferred variant
		// is hmac(sha512), seeded from jitterentropy where it can. Debian
		// builds these in from 6.12 on and as modules on 6.1: without drbg
		// every ESP SA on 6.1 fails with ENOENT, without sha512 drbg's
		// self-test fails with a WARNING.
		"drbg", "sha512_generic", "jitterentropy_rng",
		// Small modules holding catalog targets, for 50-catalog.
		"nf_tables", "sch_netem", "act_ife", "xt_CT", "xt_IDLETIMER", "xt_tcpmss",
		"macvlan", "bonding", "pcrypt",
		// libcrc32c (nf_tables, nf_conntrack) asks the crypto API for crc32c:
		// busybox modprobe cannot resolve that alias on demand.
		"crc32c_generic",
	}
}

// ModuleName is the name modprobe uses for a module file path:
// kernel/net/ipv4/esp4.ko.xz -> esp4, and dashes become underscores.
func ModuleName(p string) string {
	base := path.Base(p)
	if i := strings.Index(base, ".ko"); i >= 0 {
		base = base[:i]
	}
	return strings.ReplaceAll(base, "-", "_")
}

// uncompressedPath drops a .xz/.zst/.gz suffix: the initramfs holds plain
// .ko files so that any modprobe (busybox's included) can load them.
func uncompressedPath(p string) string {
	for _, ext := range []string{".xz", ".zst", ".gz"} {
		if strings.HasSuffix(p, ".ko"+ext) {
			return strings.TrimSuffix(p, ext)
		}
	}
	return p
}

// ModDep is a parsed modules.dep: module paths relative to the modules
// directory, keyed by module name.
type ModDep struct {
	Path map[string]string   // name -> relative path
	Deps map[string][]string // name -> names it depends on
}

// ParseModDep parses the content of modules.dep.
func ParseModDep(r io.Reader) (*ModDep, error) {
	md := &ModDep{Path: map[string]string{}, Deps: map[string][]string{}}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		mod, deps, ok := strings.Cut(line, ":")
		if !ok {
			return nil, fmt.Errorf("modules.dep line %d: no ':' in %q", n, line)
		}
		name := ModuleName(mod)
		md.Path[name] = mod
		var names []string
		for _, d := range strings.Fields(deps) {
			names = append(names, ModuleName(d))
		}
		md.Deps[name] = names
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("reading modules.dep: %w", err)
	}
	return md, nil
}

// Closure returns names and everything they depend on, dependencies first
// within each root's order, without duplicates. Names listed in builtin (the
// kernel has them compiled in) are satisfied without a file. A name that is
// neither a module nor built in is an error naming it.
func (md *ModDep) Closure(names []string, builtin map[string]bool) ([]string, error) {
	var (
		out     []string
		state   = map[string]int{} // 1 visiting, 2 done
		missing []string
	)
	var visit func(string)
	visit = func(n string) {
		n = ModuleName(n)
		if state[n] != 0 {
			return
		}
		state[n] = 1
		if _, ok := md.Path[n]; !ok {
			if !builtin[n] {
				missing = append(missing, n)
			}
			state[n] = 2
			return
		}
		for _, d := range md.Deps[n] {
			visit(d)
		}
		state[n] = 2
		out = append(out, n)
	}
	for _, n := range names {
		visit(n)
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("kernel has no module %s (not in modules.dep, not built in)", strings.Join(missing, ", "))
	}
	return out, nil
}

// ParseBuiltin parses modules.builtin (one kernel/.../name.ko per line).
func ParseBuiltin(r io.Reader) (map[string]bool, error) {
	b := map[string]bool{}
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		if l := strings.TrimSpace(sc.Text()); l != "" {
			b[ModuleName(l)] = true
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("reading modules.builtin: %w", err)
	}
	return b, nil
}

// ReadModule returns a module file's content, decompressing .ko.xz,
// .ko.zst and .ko.gz.
func ReadModule(file string) ([]byte, error) {
	f, err := os.Open(file)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var r io.Reader
	switch {
	case strings.HasSuffix(file, ".xz"):
		xr, err := xz.NewReader(bufio.NewReader(f))
		if err != nil {
			return nil, fmt.Errorf("decompressing %s: %w", file, err)
		}
		r = xr
	case strings.HasSuffix(file, ".zst"):
		zr, err := zstd.NewReader(f)
		if err != nil {
			return nil, fmt.Errorf("decompressing %s: %w", file, err)
		}
		defer zr.Close()
		r = zr
	case strings.HasSuffix(file, ".gz"):
		gr, err := gzip.NewReader(f)
		if err != nil {
			return nil, fmt.Errorf("decompressing %s: %w", file, err)
		}
		r = gr
	default:
		r = f
	}
	data, err := io.ReadAll(r)
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", file, err)
	}
	return data, nil
}

// ModInfo returns the values of key in a module's .modinfo section
// ("depends", "alias", ...). An empty depends= yields no values.
func ModInfo(ko []byte, key string) ([]string, error) {
	f, err := elf.NewFile(bytes.NewReader(ko))
	if err != nil {
		return nil, fmt.Errorf("parsing module ELF: %w", err)
	}
	sec := f.Section(".modinfo")
	if sec == nil {
		return nil, fmt.Errorf("module has no .modinfo section")
	}
	data, err := sec.Data()
	if err != nil {
		return nil, fmt.Errorf("reading .modinfo: %w", err)
	}
	var vals []string
	for _, kv := range bytes.Split(data, []byte{0}) {
		k, v, ok := strings.Cut(string(kv), "=")
		if !ok || k != key {
			continue
		}
		if key == "depends" {
			for _, d := range strings.Split(v, ",") {
				if d != "" {
					vals = append(vals, d)
				}
			}
			continue
		}
		vals = append(vals, v)
	}
	return vals, nil
}

// moduleFile is one module placed in the initramfs.
type moduleFile struct {
	Name string
	Rel  string // path under /lib/modules/<release>/, uncompressed
	Data []byte
	Deps []string // names
}

// ModuleSet is the module tree of one initramfs.
type ModuleSet struct {
	Release string
	mods    []moduleFile
	builtin []byte
}

// NewModuleSet collects the module tree of an initramfs for k: the named
// stock modules, our own extra modules (files built against k) and the
// dependency closure of both, resolved through k's modules.dep.
func NewModuleSet(k *Kernel, stock, extra []string) (*ModuleSet, error) {
	depFile := path.Join(k.ModulesDir, "modules.dep")
	f, err := os.Open(depFile)
	if err != nil {
		return nil, fmt.Errorf("opening %s: %w", depFile, err)
	}
	md, err := ParseModDep(f)
	f.Close()
	if err != nil {
		return nil, fmt.Errorf("%s: %w", depFile, err)
	}
	builtinData, err := os.ReadFile(path.Join(k.ModulesDir, "modules.builtin"))
	if err != nil && !os.IsNotExist(err) {
		return nil, fmt.Errorf("reading modules.builtin: %w", err)
	}
	builtin, err := ParseBuiltin(bytes.NewReader(builtinData))
	if err != nil {
		return nil, err
	}

	set := &ModuleSet{Release: k.Release, builtin: builtinData}
	want := append([]string(nil), stock...)
	var extras []moduleFile
	for _, file := range extra {
		data, err := ReadModule(file)
		if err != nil {
			return nil, err
		}
		deps, err := ModInfo(data, "depends")
		if err != nil {
			return nil, fmt.Errorf("%s: %w", file, err)
		}
		for i, d := range deps {
			deps[i] = ModuleName(d)
		}
		want = append(want, deps...)
		extras = append(extras, moduleFile{
			Name: ModuleName(file),
			Rel:  "extra/" + path.Base(uncompressedPath(file)),
			Data: data,
			Deps: deps,
		})
	}
	closure, err := md.Closure(want, builtin)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", k.Label, err)
	}
	for _, n := range closure {
		data, err := ReadModule(path.Join(k.ModulesDir, md.Path[n]))
		if err != nil {
			return nil, fmt.Errorf("loading module %s: %w", n, err)
		}
		set.mods = append(set.mods, moduleFile{Name: n, Rel: uncompressedPath(md.Path[n]), Data: data, Deps: md.Deps[n]})
	}
	set.mods = append(set.mods, extras...)
	return set, nil
}

// Names lists the modules in the set.
func (s *ModuleSet) Names() []string {
	names := make([]string, len(s.mods))
	for i, m := range s.mods {
		names[i] = m.Name
	}
	return names
}

// modulesDep renders modules.dep for the set. Like depmod, each line lists
// the module's whole dependency closure ordered so that every module comes
// before the ones it needs: modprobe loads the list from the end.
func (s *ModuleSet) modulesDep() []byte {
	byName := map[string]*moduleFile{}
	for i := range s.mods {
		byName[s.mods[i].Name] = &s.mods[i]
	}
	var b bytes.Buffer
	for _, m := range s.mods {
		var post []string
		seen := map[string]bool{m.Name: true}
		var walk func(*moduleFile)
		walk = func(mf *moduleFile) {
			for _, dn := range mf.Deps {
				d, ok := byName[dn]
				if !ok || seen[dn] {
					continue // built in, or already placed
				}
				seen[dn] = true
				walk(d)
				post = append(post, d.Rel)
			}
		}
		walk(&m)
		fmt.Fprintf(&b, "%s:", m.Rel)
		for i := len(post) - 1; i >= 0; i-- {
			fmt.Fprintf(&b, " %s", post[i])
		}
		b.WriteByte('\n')
	}
	return b.Bytes()
}

// modulesAlias renders modules.alias from the modules' own aliases, so the
// kernel's request_module("net-pf-38") finds af_alg through modprobe.
func (s *ModuleSet) modulesAlias() []byte {
	var lines []string
	for _, m := range s.mods {
		aliases, err := ModInfo(m.Data, "alias")
		if err != nil {
			continue
		}
		for _, a := range aliases {
			lines = append(lines, fmt.Sprintf("alias %s %s", a, m.Name))
		}
	}
	sort.Strings(lines)
	return []byte(strings.Join(lines, "\n") + "\n")
}

// AddTo places the modules and their index files in the initramfs under
// /lib/modules/<release>/.
func (s *ModuleSet) AddTo(fs *Initramfs) error {
	base := "lib/modules/" + s.Release
	for _, m := range s.mods {
		if err := fs.AddData(base+"/"+m.Rel, 0o644, m.Data); err != nil {
			return err
		}
	}
	for name, data := range map[string][]byte{
		"modules.dep":     s.modulesDep(),
		"modules.alias":   s.modulesAlias(),
		"modules.builtin": s.builtin,
	} {
		if err := fs.AddData(base+"/"+name, 0o644, data); err != nil {
			return err
		}
	}
	return nil
}
