package policy

import (
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// endless never ends: ReadFile must stop at the limit, not read it whole.
type endless struct{ n int64 }

func (e *endless) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = '#'
	}
	e.n += int64(len(p))
	return len(p), nil
}

func TestReadLimited(t *testing.T) {
	for _, tc := range []struct {
		name string
		r    io.Reader
		ok   bool
	}{
		{"small", strings.NewReader("apiVersion: killswitch/v1\n"), true},
		{"exactly the limit", strings.NewReader(strings.Repeat("#", 100)), true},
		{"one over", strings.NewReader(strings.Repeat("#", 101)), false},
		{"endless", &endless{}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			data, err := readLimited(tc.r, "policy.yaml", 100)
			if (err == nil) != tc.ok {
				t.Fatalf("readLimited = %d bytes, %v, want ok=%v", len(data), err, tc.ok)
			}
			if err != nil && !strings.Contains(err.Error(), "policy.yaml is larger than the 100 bytes") {
				t.Errorf("error %q does not name the file and the limit", err)
			}
			if e, ok := tc.r.(*endless); ok && e.n > 100+64*1024 {
				t.Errorf("read %d bytes of an endless file", e.n)
			}
		})
	}
}

func TestReadFile(t *testing.T) {
	dir := t.TempDir()
	big := filepath.Join(dir, "big.yaml")
	if err := os.WriteFile(big, make([]byte, MaxSize+1), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := ReadFile(big); err == nil {
		t.Error("ReadFile read a file over MaxSize")
	}
	if _, err := ReadFile(filepath.Join(dir, "missing")); !os.IsNotExist(err) {
		t.Errorf("ReadFile(missing) = %v, want not-exist", err)
	}
}
