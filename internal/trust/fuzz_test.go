package trust

import (
	"strings"
	"testing"

	"github.com/killswitch/killswitch/internal/kmod"
	"github.com/killswitch/killswitch/internal/ksfs"
)

// FuzzParseAllowlist: whatever the file holds, what it allows is a valid
// symbol or module name; nothing panics.
func FuzzParseAllowlist(f *testing.F) {
	for _, s := range []string{"symbol a\n", "symbol esp_input -22 0x10\nmodule esp4 # c\n", "module -x\n", "symbol ..\n", "\x00"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		a, err := ParseAllowlist([]byte(s), "fuzz")
		if err != nil {
			return
		}
		for sym := range a.symbols {
			if ksfs.ValidateSymbol(sym) != nil {
				t.Fatalf("allowed invalid symbol %q from %q", sym, s)
			}
		}
		for mod := range a.modules {
			if kmod.ValidateName(mod) != nil || strings.Contains(mod, "-") {
				t.Fatalf("allowed invalid module %q from %q", mod, s)
			}
		}
	})
}
