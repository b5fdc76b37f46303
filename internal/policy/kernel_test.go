package policy

import "testing"

func ver(major, minor, patch int) Version { return Version{Major: major, Minor: minor, Patch: patch} }

func TestKernelFromUname(t *testing.T) {
	tests := []struct {
		name, release, version, signature string
		want                              Version
	}{
		{"debian 6.1", "6.1.0-56-amd64", "#1 SMP PREEMPT_DYNAMIC Debian 6.1.192-2 (2025-11-01)", "", ver(6, 1, 192)},
		{"debian 6.12 backport", "6.12.117+deb12-amd64", "#1 SMP PREEMPT_DYNAMIC Debian 6.12.117-1~deb12u1 (2025-11-10)", "", ver(6, 12, 117)},
		{"ubuntu signature", "6.8.0-45-generic", "#45-Ubuntu SMP PREEMPT_DYNAMIC", "Ubuntu 6.8.0-45.45-generic 6.8.12", ver(6, 8, 12)},
		{"plain upstream", "6.6.30", "#1 SMP", "", ver(6, 6, 30)},
		{"release candidate", "6.10.0-rc1", "#1", "", Version{Major: 6, Minor: 10, RC: 1}},
		{"debian release without uname -v", "6.1.0-56-amd64", "#1 SMP", "", Version{}},
		{"unknown", "weird", "#1", "", Version{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			k := KernelFromUname(tt.release, tt.version, tt.signature)
			if k.Version != tt.want || k.Release != tt.release {
				t.Errorf("got %+v, want %v", k, tt.want)
			}
		})
	}
}

func TestConstraint(t *testing.T) {
	tests := []struct {
		constraint string
		match      []string
		nomatch    []string
	}{
		{"6.1", []string{"6.1.0", "6.1.192", "6.1-rc3"}, []string{"6.0.99", "6.2.0", "6.2-rc1", "6.10.1"}},
		{"6.1.5", []string{"6.1.5"}, []string{"6.1.4", "6.1.6"}},
		{">=6.1 <6.1.140", []string{"6.1.0", "6.1.139"}, []string{"6.1.140", "6.6.1", "5.15.1"}},
		{">=6.1,<6.1.140 || >=6.6 <6.6.90", []string{"6.1.1", "6.6.89"}, []string{"6.6.90", "6.2.0"}},
		{"!=6.12.1", []string{"6.12.0", "6.12.2"}, []string{"6.12.1"}},
		{">6.12 <=6.13", []string{"6.12.1", "6.13.0"}, []string{"6.12.0", "6.13.1"}},
		{"=6.1.0", []string{"6.1.0"}, []string{"6.1.1"}},
	}
	for _, tt := range tests {
		t.Run(tt.constraint, func(t *testing.T) {
			c, err := ParseConstraint(tt.constraint)
			if err != nil {
				t.Fatal(err)
			}
			for _, s := range tt.match {
				if v, _ := ParseVersion(s); !c.Match(v) {
					t.Errorf("%s does not match", s)
				}
			}
			for _, s := range tt.nomatch {
				if v, _ := ParseVersion(s); c.Match(v) {
					t.Errorf("%s matches", s)
				}
			}
		})
	}
	for _, bad := range []string{"", "||", ">=6.1 ||", "6", "6.1.2.3", ">>6.1", "6.x", "~6.1", ">= 6.1", "06.1"} {
		if _, err := ParseConstraint(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

func TestSelectorMatch(t *testing.T) {
	c, _ := ParseConstraint("<6.1.150")
	s := Selector{Releases: []string{"6.1.0-*-amd64", "6.1.0-*-arm64"}, Version: &c}
	tests := []struct {
		k    Kernel
		want bool
	}{
		{Kernel{"6.1.0-56-amd64", ver(6, 1, 140)}, true},
		{Kernel{"6.1.0-56-arm64", ver(6, 1, 140)}, true},
		{Kernel{"6.1.0-56-amd64", ver(6, 1, 192)}, false},
		{Kernel{"6.12.1", ver(6, 1, 1)}, false},
		{Kernel{Release: "6.1.0-56-amd64"}, false},
	}
	for _, tt := range tests {
		if ok, why := s.Match(tt.k); ok != tt.want || (!ok && why == "") {
			t.Errorf("%v: got %v (%s), want %v", tt.k, ok, why, tt.want)
		}
	}
	if ok, _ := (Selector{}).Match(Kernel{}); !ok {
		t.Error("the zero selector must match everything")
	}
}
