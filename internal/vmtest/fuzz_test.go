package vmtest

import (
	"bytes"
	"context"
	"os"
	"strconv"
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

// FuzzResolveDebian: whatever apt-cache pkgnames lists, the 6.12 resolver
// picks the newest -amd64-unsigned image listed (compared as numbers, not
// text: 6.12.117 > 6.12.99) with headers of the same version, or fails;
// and when that newest image is one apt can show (the fixture knows
// 6.12.117), it must not fail. The oracle below is written apart from
// newestByVersion on purpose.
func FuzzResolveDebian(f *testing.F) {
	f.Add("linux-image-6.12.117+deb12-amd64-unsigned\n")
	f.Add("linux-image-6.12.99+deb12-amd64-unsigned\nlinux-image-6.12.117+deb12-amd64-unsigned\n")
	f.Add("linux-image-6.12.117+deb12-amd64-unsigned\nlinux-image-6.12.99+deb12-amd64-unsigned\nlinux-image-6.12.118+deb12-rt-amd64-unsigned\n")
	f.Add("linux-image-6.12.117+deb12-cloud-amd64\n")
	f.Fuzz(func(t *testing.T, names string) {
		apt := newFakeApt(t)
		apt.pkgnames = names
		k, err := resolveDebian612(context.Background(), apt)

		// The oracle: the listed names of the right shape, newest first.
		want, wantVer := "", []int(nil)
		for _, line := range strings.Split(names, "\n") {
			line = strings.TrimSpace(line)
			v, ok := unsignedImageVersion(line)
			if !ok {
				continue
			}
			if wantVer == nil || newerThan(v, wantVer) {
				want, wantVer = line, v
			}
		}
		if err != nil {
			if want == "" {
				return // nothing to pick: failing is right
			}
			if _, known := apt.show[want]; known {
				t.Fatalf("pkgnames lists %s, which apt can show, but resolving failed: %v", want, err)
			}
			return // the newest listed image is unknown to apt: failing is right
		}
		if want == "" {
			t.Fatalf("resolved %s from a list without any 6.12 -amd64-unsigned image: %q", k.Image.Name, names)
		}
		if k.Image.Name != want {
			t.Errorf("resolved %s, but the newest listed is %s (list %q)", k.Image.Name, want, names)
		}
		ver := strings.TrimSuffix(strings.TrimPrefix(k.Image.Name, "linux-image-"), "+deb12-amd64-unsigned")
		if k.Headers.Name != "linux-headers-"+ver+"+deb12-amd64" || k.Headers.Version != k.Image.Version {
			t.Errorf("image %s %s with headers %s %s: not the same kernel", k.Image.Name, k.Image.Version, k.Headers.Name, k.Headers.Version)
		}
	})
}

// unsignedImageVersion parses "linux-image-6.12.N+deb12-amd64-unsigned".
func unsignedImageVersion(name string) ([]int, bool) {
	rest, ok := strings.CutPrefix(name, "linux-image-6.12.")
	if !ok {
		return nil, false
	}
	n, ok := strings.CutSuffix(rest, "+deb12-amd64-unsigned")
	if !ok || n == "" {
		return nil, false
	}
	for _, c := range n {
		if c < '0' || c > '9' {
			return nil, false
		}
	}
	v, err := strconv.Atoi(n)
	if err != nil {
		return nil, false
	}
	return []int{6, 12, v}, true
}

func newerThan(a, b []int) bool {
	for i := range a {
		if a[i] != b[i] {
			return a[i] > b[i]
		}
	}
	return false
}
