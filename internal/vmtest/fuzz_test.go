package vmtest

import (
	"bytes"
	"context"
	"os"
	"strings"
	"testing"
)

// The parsers below read output of other programs (apt-cache, depmod);
// whatever they get, they must not panic and must keep their invariants.

func FuzzParseStanzas(f *testing.F) {
	for _, file := range []string{"testdata/apt/show-6.1.txt", "testdata/apt/show-6.12.txt"} {
		if data, err := os.ReadFile(file); err == nil {
			f.Add(string(data))
		}
	}
	f.Add("Package: a\n more\n\nVersion: 1\n")
	f.Fuzz(func(t *testing.T, s string) {
		for _, st := range parseStanzas(s) {
			if len(st) == 0 {
				t.Errorf("empty stanza from %q", s)
			}
		}
	})
}

func FuzzDependNames(f *testing.F) {
	f.Add("a (>= 1), b | c (= 2), d:amd64")
	f.Fuzz(func(t *testing.T, s string) {
		for _, n := range dependNames(s) {
			if n == "" || strings.ContainsAny(n, ",| (") {
				t.Errorf("dependNames(%q) returned %q", s, n)
			}
		}
	})
}

func FuzzParseModDep(f *testing.F) {
	if data, err := os.ReadFile("testdata/modules/modules.dep"); err == nil {
		f.Add(data)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		md, err := ParseModDep(bytes.NewReader(data))
		if err != nil {
			return
		}
		var names []string
		for n := range md.Path {
			names = append(names, n)
		}
		// Every closure over known modules terminates and lists each
		// module once, even with cycles in the input.
		got, err := md.Closure(names, nil)
		if err != nil {
			return
		}
		seen := map[string]bool{}
		for _, n := range got {
			if seen[n] {
				t.Errorf("Closure lists %s twice", n)
			}
			seen[n] = true
		}
	})
}

func FuzzResolveDebian(f *testing.F) {
	f.Add("linux-image-6.12.117+deb12-amd64-unsigned\n")
	f.Fuzz(func(t *testing.T, names string) {
		apt := newFakeApt(t)
		apt.pkgnames = names
		_, _ = resolveDebian612(context.Background(), apt)
	})
}
