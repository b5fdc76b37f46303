package catalog

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
)

// The module's lockdown allowlist is generated from the catalog: a stale
// copy would let engage= under lockdown disagree with what was reviewed.
func TestAllowlistHeaderFresh(t *testing.T) {
	c, err := Load()
	if err != nil {
		t.Fatal(err)
	}
	want := c.AllowlistHeader()
	path := filepath.Join("..", "..", "kernel", "ks_allowlist.h")
	if os.Getenv("KS_UPDATE_ALLOWLIST") == "1" {
		if err := os.WriteFile(path, want, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	got, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (generate it: KS_UPDATE_ALLOWLIST=1 go test ./internal/catalog)", err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("%s is stale: regenerate it with KS_UPDATE_ALLOWLIST=1 go test ./internal/catalog", path)
	}
	if !bytes.Contains(want, []byte(`{ "af_alg_sendmsg", -1 }`)) {
		t.Fatalf("the allowlist lacks Copy Fail's af_alg_sendmsg -1:\n%s", want)
	}
}
