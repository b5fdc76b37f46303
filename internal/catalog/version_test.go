package catalog

import (
	"testing"
)

func TestParseVersion(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want Version
		str  string
	}{
		{"6.1.192", Version{6, 1, 192, 0}, "6.1.192"},
		{"6.14", Version{6, 14, 0, 0}, "6.14"},
		{"v2.6.12", Version{2, 6, 12, 0}, "2.6.12"},
		{"7.1-rc3", Version{7, 1, 0, 3}, "7.1-rc3"},
		{"6.1.0", Version{6, 1, 0, 0}, "6.1"},
	} {
		got, err := ParseVersion(tc.in)
		if err != nil || got != tc.want || got.String() != tc.str {
			t.Errorf("ParseVersion(%q) = %+v (%q), %v; want %+v (%q)", tc.in, got, got.String(), err, tc.want, tc.str)
		}
	}
	for _, bad := range []string{"", "6", "6.1.2.3", "6.x", "6.01", "7.1-rc", "7.1-rc0", "6.1.5-rc1", "2.6", "6.1.", "-6.1", "99999999.1"} {
		if v, err := ParseVersion(bad); err == nil {
			t.Errorf("ParseVersion(%q) = %v, want an error", bad, v)
		}
	}
}

func TestVersionCompare(t *testing.T) {
	order := []string{"2.6.12", "2.6.39", "3.0", "5.4.291", "5.10", "5.10.9", "5.10.235", "6.14-rc1", "6.14-rc7", "6.14", "6.14.1", "7.0"}
	for i := range order {
		for j := range order {
			a, b := mustVersion(t, order[i]), mustVersion(t, order[j])
			want := 0
			if i < j {
				want = -1
			} else if i > j {
				want = 1
			}
			if got := a.Compare(b); got != want {
				t.Errorf("%s vs %s: %d, want %d", a, b, got, want)
			}
		}
	}
}

func mustVersion(t testing.TB, s string) Version {
	t.Helper()
	v, err := ParseVersion(s)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func TestRange(t *testing.T) {
	for _, tc := range []struct {
		rng  string
		in   []string
		out  []string
		norm string
	}{
		{"6.1.7 <= v < 6.1.167", []string{"6.1.7", "6.1.166"}, []string{"6.1.6", "6.1.167", "6.2", "6.0"}, "6.1.7 <= v < 6.1.167"},
		{"v < 5.10.253", []string{"2.6.12", "5.10.252"}, []string{"5.10.253", "6.1"}, "v < 5.10.253"},
		{"6.18 <= v", []string{"6.18", "7.0", "6.18.1"}, []string{"6.17.9", "6.18-rc3"}, "6.18 <= v"},
		{"5.10 < v < 5.10.253", []string{"5.10.1"}, []string{"5.10", "5.10.253"}, "5.10 < v < 5.10.253"},
		{"2.6.12 ≤ v<5.4.291", []string{"2.6.12", "4.19.1"}, []string{"5.4.291"}, "2.6.12 <= v < 5.4.291"},
		{"7.0-rc1 <= v < 7.0", []string{"7.0-rc1", "7.0-rc8"}, []string{"7.0", "6.19.9"}, "7.0-rc1 <= v < 7.0"},
		{"v <= 6.19.9", []string{"6.19.9"}, []string{"6.19.10"}, "v <= 6.19.9"},
	} {
		r, err := ParseRange(tc.rng)
		if err != nil {
			t.Errorf("ParseRange(%q): %v", tc.rng, err)
			continue
		}
		if r.String() != tc.norm {
			t.Errorf("ParseRange(%q).String() = %q, want %q", tc.rng, r, tc.norm)
		}
		for _, s := range tc.in {
			if !r.Contains(mustVersion(t, s)) {
				t.Errorf("%s does not contain %s", tc.rng, s)
			}
		}
		for _, s := range tc.out {
			if r.Contains(mustVersion(t, s)) {
				t.Errorf("%s contains %s", tc.rng, s)
			}
		}
	}
	for _, bad := range []string{"", "v", "6.1", "6.2 <= v < 6.1", "6.1 < v < 6.1", "6.1 <= w < 6.2", "6.1 <= v < 6.2 x", "< v", "6.1 >= v", "v < 6.1; v < 6.2"} {
		if r, err := ParseRange(bad); err == nil {
			t.Errorf("ParseRange(%q) = %v, want an error", bad, r)
		}
	}
}

func TestHostVersion(t *testing.T) {
	for _, tc := range []struct {
		unameV, release, signature string
		want, source               string
		wantErr                    bool
	}{
		{"#1 SMP PREEMPT_DYNAMIC Debian 6.1.192-2 (2025-10-20)", "6.1.0-56-amd64", "", "6.1.192", "uname -v (Debian 6.1.192)", false},
		{"#1 SMP PREEMPT_DYNAMIC Debian 6.12.117-1~deb12u1 (2025-11-01)", "6.12.117+deb12-amd64", "", "6.12.117", "uname -v (Debian 6.12.117)", false},
		{"#101-Ubuntu SMP Tue Nov 14 13:30:08 UTC 2023", "5.15.0-91-generic", "Ubuntu 5.15.0-91.101-generic 5.15.131\n", "5.15.131", "/proc/version_signature", false},
		{"#1 SMP PREEMPT_DYNAMIC", "6.9.0-rc3", "", "6.9-rc3", "uname -r", false},
		{"#1 SMP", "6.6.30", "", "6.6.30", "uname -r", false},
		{"#1 SMP", "6.14.2-300.fc42.x86_64", "", "6.14.2", "uname -r", false},
		{"#1 SMP", "6.1.0-56-amd64", "", "", "", true},
		{"#1 SMP", "weird", "", "", "", true},
	} {
		v, src, err := HostVersion(tc.unameV, tc.release, tc.signature)
		if (err != nil) != tc.wantErr {
			t.Errorf("HostVersion(%q, %q): error %v, want error %t", tc.unameV, tc.release, err, tc.wantErr)
			continue
		}
		if err == nil && (v.String() != tc.want || src != tc.source) {
			t.Errorf("HostVersion(%q, %q) = %v from %q, want %s from %q", tc.unameV, tc.release, v, src, tc.want, tc.source)
		}
	}
}

func FuzzParseVersion(f *testing.F) {
	for _, s := range []string{"6.1.192", "7.1-rc3", "v2.6.12", "6.14", "", "6.01", "1.2.3.4"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		v, err := ParseVersion(s)
		if err != nil {
			return
		}
		w, err := ParseVersion(v.String())
		if err != nil || w != v {
			t.Fatalf("%q -> %+v -> %q -> %+v, %v", s, v, v.String(), w, err)
		}
		if v.Compare(w) != 0 {
			t.Fatalf("%v does not compare equal to itself", v)
		}
	})
}

func FuzzParseRange(f *testing.F) {
	for _, s := range []string{"6.1.7 <= v < 6.1.167", "v < 5.10.253", "6.18 <= v", "5.10 < v < 5.10.253", "2.6.12 ≤ v<5.4.291", "v", "7.0-rc1<=v<7.0"} {
		f.Add(s, "6.1.100")
	}
	f.Fuzz(func(t *testing.T, s, probe string) {
		r, err := ParseRange(s)
		if err != nil {
			return
		}
		r2, err := ParseRange(r.String())
		if err != nil || r2 != r {
			t.Fatalf("%q -> %q does not parse back the same: %+v, %v", s, r.String(), r2, err)
		}
		if r.HasFrom && !r.FromOpen && !r.Contains(r.From) {
			t.Fatalf("%s does not contain its lower bound", r)
		}
		if r.HasTo && r.ToOpen && r.Contains(r.To) {
			t.Fatalf("%s contains its excluded upper bound", r)
		}
		if v, err := ParseVersion(probe); err == nil && r.Contains(v) {
			if r.HasFrom && v.Compare(r.From) < 0 || r.HasTo && v.Compare(r.To) > 0 {
				t.Fatalf("%s contains %s, which is outside its bounds", r, v)
			}
		}
	})
}

func FuzzHostVersion(f *testing.F) {
	f.Add("#1 SMP PREEMPT_DYNAMIC Debian 6.1.192-2 (2025-10-20)", "6.1.0-56-amd64", "")
	f.Add("#101-Ubuntu SMP", "5.15.0-91-generic", "Ubuntu 5.15.0-91.101-generic 5.15.131")
	f.Add("", "6.9.0-rc3", "")
	f.Fuzz(func(t *testing.T, unameV, release, signature string) {
		v, src, err := HostVersion(unameV, release, signature)
		if err != nil {
			return
		}
		if src == "" {
			t.Fatalf("version %v without a source", v)
		}
		if _, err := ParseVersion(v.String()); err != nil {
			t.Fatalf("HostVersion returned %v, which does not parse: %v", v, err)
		}
	})
}
