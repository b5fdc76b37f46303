package daemon

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// validate applies the trust rules and the signature check the agent
// would; keygen and sign make what it checks.
func TestValidateTrustAndSignatures(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) string {
		t.Helper()
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	const head = "apiVersion: killswitch/v1\nkind: Policy\nversion: \"1\"\n"
	cve := write("cve.yaml", head+"entries:\n  - {cve: CVE-2026-31431, load: true}\n")
	raw := write("raw.yaml", head+"entries:\n  - {symbol: ks_test_vuln, retval: -5}\n")
	mod := write("mod.yaml", head+"entries:\n  - {symbol: ks_test_vuln, retval: -5, module: ksmbd, load: true}\n")
	allow := write("allowlist", "symbol ks_test_vuln -5\n")
	keys := filepath.Join(dir, "keys")
	os.Mkdir(keys, 0o755)

	if out, errs, code := run1(t, "keygen", "--dir", keys, "--name", "fleet"); code != ExitOK {
		t.Fatalf("keygen: exit %d\n%s%s", code, out, errs)
	}
	if fi, err := os.Stat(filepath.Join(keys, "fleet.key")); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("private key: %v %v", fi, err)
	}
	if _, errs, code := run1(t, "keygen", "--dir", keys, "--name", "fleet"); code != ExitError || !strings.Contains(errs, "not overwritten") {
		t.Errorf("keygen over an existing key: exit %d %s", code, errs)
	}
	// The private key must not sit in the node's key directory.
	priv := filepath.Join(dir, "fleet.key")
	if err := os.Rename(filepath.Join(keys, "fleet.key"), priv); err != nil {
		t.Fatal(err)
	}
	signed := write("signed.yaml", head+"entries:\n  - cve: CVE-2026-31431\n")
	if out, errs, code := run1(t, "sign", "--key", priv, signed); code != ExitOK || !strings.Contains(out, "signed.yaml.sig") {
		t.Fatalf("sign: exit %d\n%s%s", code, out, errs)
	}
	tampered := write("tampered.yaml", head+"entries:\n  - {cve: CVE-2026-31431, load: true}\n")
	sig, _ := os.ReadFile(signed + ".sig")
	write("tampered.yaml.sig", string(sig))
	if _, errs, code := run1(t, "sign", "--key", priv, write("broken.yaml", "kind: x\n")); code != ExitInvalid || !strings.Contains(errs, "not signed") {
		t.Errorf("sign of an invalid policy: exit %d %s", code, errs)
	}

	for _, tc := range []struct {
		name string
		args []string
		code int
		out  string
	}{
		{"catalog entry, default trust", []string{cve}, ExitOK, "allowed by --trust=catalog"},
		{"raw symbol, default trust", []string{raw}, ExitInvalid, "symbol ks_test_vuln is not a catalog entry"},
		{"non-catalog module, default trust", []string{mod}, ExitInvalid, "loading module ksmbd is not allowed"},
		{"raw symbol, allowlist", []string{"--trust=allowlist", "--trust-allowlist", allow, raw}, ExitOK, "allowed by --trust=allowlist"},
		{"module not in allowlist", []string{"--trust=allowlist", "--trust-allowlist", allow, mod}, ExitInvalid, "add \"module ksmbd\""},
		{"allowlist missing", []string{"--trust=allowlist", "--trust-allowlist", filepath.Join(dir, "nope"), raw}, ExitError, ""},
		{"anything, any", []string{"--trust=any", mod}, ExitOK, "allowed by --trust=any"},
		{"bad level", []string{"--trust=all", raw}, ExitError, ""},
		{"signed", []string{"--trust-keys", keys, signed}, ExitOK, "signed by fleet.pub"},
		{"unsigned", []string{"--trust-keys", keys, cve}, ExitInvalid, "not signed"},
		{"tampered", []string{"--trust-keys", keys, tampered}, ExitInvalid, "does not match"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, errs, code := run1(t, append([]string{"validate"}, tc.args...)...)
			if code != tc.code || !strings.Contains(out+errs, tc.out) {
				t.Errorf("exit %d, want %d with %q:\n%s%s", code, tc.code, tc.out, out, errs)
			}
		})
	}
}
