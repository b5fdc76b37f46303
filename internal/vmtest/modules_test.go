package vmtest

import (
	"bytes"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/klauspost/compress/zstd"
	"github.com/ulikunitz/xz"
)

func TestModuleName(t *testing.T) {
	for in, want := range map[string]string{
		"kernel/net/ipv4/esp4.ko.xz":                     "esp4",
		"kernel/crypto/af_alg.ko":                        "af_alg",
		"kernel/lib/crypto/libcurve25519-generic.ko.zst": "libcurve25519_generic",
		"xfrm-algo":                "xfrm_algo",
		"/tmp/build/killswitch.ko": "killswitch",
	} {
		if got := ModuleName(in); got != want {
			t.Errorf("ModuleName(%q) = %q, want %q", in, got, want)
		}
	}
}

func loadFixtureModDep(t *testing.T) (*ModDep, map[string]bool) {
	t.Helper()
	f, err := os.Open("testdata/modules/modules.dep")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	md, err := ParseModDep(f)
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.Open("testdata/modules/modules.builtin")
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	builtin, err := ParseBuiltin(b)
	if err != nil {
		t.Fatal(err)
	}
	return md, builtin
}

func TestClosure(t *testing.T) {
	md, builtin := loadFixtureModDep(t)
	tests := []struct {
		names   []string
		want    []string
		wantErr string
	}{
		{names: []string{"algif_aead"}, want: []string{"af_alg", "algif_aead"}},
		{names: []string{"bridge", "esp4", "xfrm_user", "af_alg"},
			want: []string{"llc", "stp", "bridge", "xfrm_algo", "esp4", "xfrm_user", "af_alg"}},
		// tls is built into this kernel: satisfied without a file.
		{names: []string{"tls", "xfrm-algo"}, want: []string{"xfrm_algo"}},
		{names: []string{"af_alg", "nosuch", "alsomissing"}, wantErr: "kernel has no module nosuch, alsomissing"},
		// wireguard's dependencies are missing from the fixture.
		{names: []string{"wireguard"}, wantErr: "udp_tunnel"},
	}
	for _, tt := range tests {
		got, err := md.Closure(tt.names, builtin)
		if tt.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("Closure(%v) error = %v, want it to mention %q", tt.names, err, tt.wantErr)
			}
			continue
		}
		if err != nil {
			t.Errorf("Closure(%v): %v", tt.names, err)
			continue
		}
		// Dependencies come before their users.
		if !reflect.DeepEqual(got, tt.want) {
			t.Errorf("Closure(%v) = %v, want %v", tt.names, got, tt.want)
		}
	}
}

func TestParseModDepRejectsGarbage(t *testing.T) {
	if _, err := ParseModDep(strings.NewReader("kernel/a.ko:\nno colon here\n")); err == nil {
		t.Error("ParseModDep accepted a line without ':'")
	}
}

func fixtureELF(t *testing.T) []byte {
	t.Helper()
	data, err := os.ReadFile("testdata/fake_mod.ko.elf")
	if err != nil {
		t.Fatal(err)
	}
	return data
}

func TestModInfo(t *testing.T) {
	ko := fixtureELF(t)
	deps, err := ModInfo(ko, "depends")
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"af_alg", "xfrm-algo"}; !reflect.DeepEqual(deps, want) {
		t.Errorf("depends = %v, want %v", deps, want)
	}
	aliases, err := ModInfo(ko, "alias")
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"net-pf-38", "algif-test"}; !reflect.DeepEqual(aliases, want) {
		t.Errorf("alias = %v, want %v", aliases, want)
	}
	if _, err := ModInfo([]byte("not an elf"), "depends"); err == nil {
		t.Error("ModInfo accepted a non-ELF file")
	}
}

func TestReadModuleDecompresses(t *testing.T) {
	ko := fixtureELF(t)
	dir := t.TempDir()

	var xzBuf bytes.Buffer
	xw, err := xz.NewWriter(&xzBuf)
	if err != nil {
		t.Fatal(err)
	}
	xw.Write(ko)
	xw.Close()
	enc, err := zstd.NewWriter(nil)
	if err != nil {
		t.Fatal(err)
	}
	files := map[string][]byte{
		"m.ko":     ko,
		"m.ko.xz":  xzBuf.Bytes(),
		"m.ko.zst": enc.EncodeAll(ko, nil),
	}
	for name, data := range files {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
		got, err := ReadModule(p)
		if err != nil {
			t.Errorf("ReadModule(%s): %v", name, err)
			continue
		}
		if !bytes.Equal(got, ko) {
			t.Errorf("ReadModule(%s) returned %d bytes, want the original %d", name, len(got), len(ko))
		}
	}
}

// TestModuleSet builds the module tree of an initramfs from a fake kernel
// and checks the regenerated index files.
func TestModuleSet(t *testing.T) {
	root := t.TempDir()
	modsDir := filepath.Join(root, "lib/modules/6.1.0-test")
	ko := fixtureELF(t)
	dep, err := os.ReadFile("testdata/modules/modules.dep")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(strings.TrimSpace(string(dep)), "\n") {
		mod, _, _ := strings.Cut(line, ":")
		p := filepath.Join(modsDir, mod)
		os.MkdirAll(filepath.Dir(p), 0o755)
		var buf bytes.Buffer
		xw, _ := xz.NewWriter(&buf)
		xw.Write(ko)
		xw.Close()
		if err := os.WriteFile(p, buf.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	os.WriteFile(filepath.Join(modsDir, "modules.dep"), dep, 0o644)
	builtin, _ := os.ReadFile("testdata/modules/modules.builtin")
	os.WriteFile(filepath.Join(modsDir, "modules.builtin"), builtin, 0o644)
	ours := filepath.Join(root, "killswitch.ko")
	os.WriteFile(ours, ko, 0o644) // depends=af_alg,xfrm-algo

	k := &Kernel{Label: "fake", Release: "6.1.0-test", ModulesDir: modsDir}
	set, err := NewModuleSet(k, []string{"bridge", "tls"}, []string{ours})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := set.Names(), []string{"llc", "stp", "bridge", "af_alg", "xfrm_algo", "killswitch"}; !reflect.DeepEqual(got, want) {
		t.Errorf("Names() = %v, want %v", got, want)
	}
	wantDep := "kernel/net/llc/llc.ko:\n" +
		"kernel/net/802/stp.ko: kernel/net/llc/llc.ko\n" +
		"kernel/net/bridge/bridge.ko: kernel/net/802/stp.ko kernel/net/llc/llc.ko\n" +
		"kernel/crypto/af_alg.ko:\n" +
		"kernel/net/xfrm/xfrm_algo.ko:\n" +
		"extra/killswitch.ko: kernel/net/xfrm/xfrm_algo.ko kernel/crypto/af_alg.ko\n"
	if got := string(set.modulesDep()); got != wantDep {
		t.Errorf("modules.dep:\n%s\nwant:\n%s", got, wantDep)
	}
	if alias := string(set.modulesAlias()); !strings.Contains(alias, "alias net-pf-38 killswitch\n") {
		t.Errorf("modules.alias lacks the fixture's alias:\n%s", alias)
	}

	img := NewInitramfs()
	if err := set.AddTo(img); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{"lib/modules/6.1.0-test/kernel/net/bridge/bridge.ko", "lib/modules/6.1.0-test/extra/killswitch.ko", "lib/modules/6.1.0-test/modules.builtin"} {
		if !img.Has(p) {
			t.Errorf("initramfs lacks %s", p)
		}
	}

	if _, err := NewModuleSet(k, []string{"nf_tables"}, nil); err == nil || !strings.Contains(err.Error(), "nf_tables") {
		t.Errorf("a missing stock module: error = %v, want one naming nf_tables", err)
	}
}

// TestCheckoutKey: two checkouts sharing $KS_CACHE build in different
// directories; the same checkout, however spelled, in the same one.
func TestCheckoutKey(t *testing.T) {
	a, b := checkoutKey("/work/wt-green"), checkoutKey("/work/wt-fleet")
	if a == b {
		t.Errorf("two checkouts share build directories (key %s)", a)
	}
	if c := checkoutKey("/work/wt-green/../wt-green"); c != a {
		t.Errorf("the same checkout got keys %s and %s", a, c)
	}
}
