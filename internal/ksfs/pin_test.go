package ksfs_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/killswitch/killswitch/internal/ksfs"
)

// A symbol becomes a path element (fn/<sym>, the BPF pin): dots-only names
// would name a directory, and disengage runs RemoveAll on the pin as root.
func TestValidateSymbolRejectsDirectoryNames(t *testing.T) {
	for _, tc := range []struct {
		sym string
		ok  bool
	}{
		{".", false},
		{"..", false},
		{"...", false},
		{"foo.isra.0", true},
		{"af_alg_sendmsg", true},
		{"../x", false},
		{"a/b", false},
	} {
		err := ksfs.ValidateSymbol(tc.sym)
		if (err == nil) != tc.ok {
			t.Errorf("ValidateSymbol(%q) = %v, want ok=%v", tc.sym, err, tc.ok)
		}
	}
}

func TestPinPathStaysUnderBPFDir(t *testing.T) {
	for _, tc := range []struct {
		sym, want string
	}{
		{"af_alg_sendmsg", ksfs.BPFDir + "/af_alg_sendmsg"},
		{"x.cold", ksfs.BPFDir + "/x.cold"},
		{".", ""},
		{"..", ""},
		{"", ""},
		{"a/../..", ""},
	} {
		got, err := ksfs.PinPath(tc.sym)
		if tc.want == "" {
			if err == nil {
				t.Errorf("PinPath(%q) = %q, want an error", tc.sym, got)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("PinPath(%q) = %q, %v, want %q", tc.sym, got, err, tc.want)
		}
	}
}

// disengage .. must not remove /sys/fs/bpf (nor anything else).
func TestDisengageDotsRemovesNothing(t *testing.T) {
	m, c := newFake(t)
	keep := m.Path("/sys/fs/bpf/other/pin")
	must(t, os.MkdirAll(filepath.Dir(keep), 0o755))
	must(t, os.WriteFile(keep, nil, 0o644))
	must(t, os.MkdirAll(m.Path(ksfs.BPFDir), 0o755))
	for _, sym := range []string{".", "..", "../other"} {
		if _, err := c.Disengage(sym); err == nil || !strings.Contains(err.Error(), sym) {
			t.Errorf("Disengage(%q) = %v, want an error naming it", sym, err)
		}
	}
	for _, p := range []string{keep, m.Path(ksfs.BPFDir)} {
		if _, err := os.Stat(p); err != nil {
			t.Errorf("%s is gone after disengaging dots: %v", p, err)
		}
	}
}
