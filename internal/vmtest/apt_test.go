package vmtest

import (
	"context"
	"fmt"
	"os"
	"reflect"
	"regexp"
	"strings"
	"testing"
)

// fakeApt answers apt-cache queries from output captured on Debian 12
// (testdata/apt/*.txt).
type fakeApt struct {
	t        *testing.T
	show     map[string]string // package -> its stanza
	pkgnames string
}

func newFakeApt(t *testing.T) *fakeApt {
	t.Helper()
	f := &fakeApt{t: t, show: map[string]string{}}
	for _, file := range []string{"show-meta-6.1.txt", "show-6.1.txt", "show-6.1-deps.txt", "show-6.12.txt", "show-6.12-deps.txt",
		"show-meta-6.1-arm64.txt", "show-6.1-arm64.txt", "show-busybox-arm64.txt"} {
		data, err := os.ReadFile("testdata/apt/" + file)
		if err != nil {
			t.Fatal(err)
		}
		for _, para := range strings.Split(string(data), "\n\n") {
			for _, s := range parseStanzas(para) {
				// Like apt on an amd64 host with arm64 added: a bare
				// name is the native package, name:arch any.
				if a := s["Architecture"]; a == "amd64" || a == "all" {
					f.show[s["Package"]] = para + "\n"
				}
				f.show[s["Package"]+":"+s["Architecture"]] = para + "\n"
			}
		}
	}
	data, err := os.ReadFile("testdata/apt/pkgnames-6.12.txt")
	if err != nil {
		t.Fatal(err)
	}
	f.pkgnames = string(data)
	return f
}

func (f *fakeApt) Show(_ context.Context, pkgs ...string) (string, error) {
	var b strings.Builder
	for _, p := range pkgs {
		s, ok := f.show[p]
		if !ok {
			return "", fmt.Errorf("E: No packages found")
		}
		b.WriteString(s + "\n")
	}
	return b.String(), nil
}

func (f *fakeApt) PkgNames(_ context.Context, prefix string) (string, error) {
	return f.pkgnames, nil
}

func TestResolveDebian(t *testing.T) {
	tests := []struct {
		name    string
		resolve func(context.Context, aptClient) (debianKernel, error)
		want    debianKernel
	}{
		{"6.1", resolveDebianMeta, debianKernel{
			Image:   debPackage{"linux-image-6.1.0-56-amd64", "6.1.192-2", "amd64"},
			Headers: debPackage{"linux-headers-6.1.0-56-amd64", "6.1.192-2", "amd64"},
			Common:  debPackage{"linux-headers-6.1.0-56-common", "6.1.192-2", "all"},
			Kbuild:  debPackage{"linux-kbuild-6.1", "6.1.192-2", "amd64"},
		}},
		{"6.12", resolveDebian612, debianKernel{
			Image:   debPackage{"linux-image-6.12.117+deb12-amd64-unsigned", "6.12.117-1~deb12u1", "amd64"},
			Headers: debPackage{"linux-headers-6.12.117+deb12-amd64", "6.12.117-1~deb12u1", "amd64"},
			Common:  debPackage{"linux-headers-6.12.117+deb12-common", "6.12.117-1~deb12u1", "all"},
			Kbuild:  debPackage{"linux-kbuild-6.12.117+deb12", "6.12.117-1~deb12u1", "amd64"},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.resolve(context.Background(), newFakeApt(t))
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Errorf("got  %+v\nwant %+v", got, tt.want)
			}
		})
	}
}

func TestResolveDebianVersionSkew(t *testing.T) {
	apt := newFakeApt(t)
	apt.show["linux-headers-6.1.0-56-amd64"] = strings.Replace(apt.show["linux-headers-6.1.0-56-amd64"], "Version: 6.1.192-2", "Version: 6.1.191-1", 1)
	_, err := resolveDebianMeta(context.Background(), apt)
	if err == nil || !strings.Contains(err.Error(), "modules would not match") {
		t.Errorf("image/headers version skew: error = %v", err)
	}
}

func TestResolveDebian612NoCandidate(t *testing.T) {
	apt := newFakeApt(t)
	apt.pkgnames = "linux-image-6.12.117+deb12-cloud-amd64\nlinux-image-6.12.117+deb12-amd64-dbg\n"
	if _, err := resolveDebian612(context.Background(), apt); err == nil {
		t.Error("resolved a 6.12 kernel from a list without -amd64-unsigned images")
	}
}

func TestNewestByVersion(t *testing.T) {
	re := regexp.MustCompile(`^linux-image-(6\.12\.\d+)\+deb12-amd64-unsigned$`)
	names := []string{
		"linux-image-6.12.99+deb12-amd64-unsigned",
		"linux-image-6.12.117+deb12-amd64-unsigned",
		"linux-image-6.12.120+deb12-rt-amd64-unsigned",
		"linux-image-6.12.111+deb12-amd64-unsigned",
		"",
	}
	name, version, ok := newestByVersion(names, re)
	if !ok || name != "linux-image-6.12.117+deb12-amd64-unsigned" || version != "6.12.117" {
		t.Errorf("newestByVersion = %q, %q, %v", name, version, ok)
	}
}

func TestDependNames(t *testing.T) {
	got := dependNames("linux-base (>= 4.12~), linux-headers-6.12.117+deb12-common (= 6.12.117-1~deb12u1), " +
		"linux-image-6.12.117+deb12-amd64 (= 6.12.117-1~deb12u1) | linux-image-6.12.117+deb12-amd64-unsigned (= 6.12.117-1~deb12u1), " +
		"linux-kbuild-6.12.117+deb12, gcc-12:amd64")
	want := []string{"linux-base", "linux-headers-6.12.117+deb12-common", "linux-image-6.12.117+deb12-amd64",
		"linux-image-6.12.117+deb12-amd64-unsigned", "linux-kbuild-6.12.117+deb12", "gcc-12"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("dependNames = %v\nwant %v", got, want)
	}
}

func TestParseStanzas(t *testing.T) {
	out := "Package: a\nVersion: 1:2.0-1\nDescription: first line\n more text\n .\n\n\nPackage: b\nVersion: 3\n"
	got := parseStanzas(out)
	if len(got) != 2 || got[0]["Version"] != "1:2.0-1" || got[1]["Package"] != "b" {
		t.Fatalf("parseStanzas = %v", got)
	}
	if got[0]["Description"] != "first line\nmore text\n." {
		t.Errorf("folded field = %q", got[0]["Description"])
	}
	if p := got[0].pkg(); (debPackage{Name: "a", Version: "1:2.0-1", Arch: "amd64"}).filename() != "a_1%3a2.0-1_amd64.deb" || p.Name != "a" {
		t.Errorf("pkg/filename mismatch: %+v", p)
	}
}
