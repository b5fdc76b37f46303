package kmod

import (
	"context"
	"slices"
	"strings"
	"testing"
)

func TestValidateName(t *testing.T) {
	for _, tc := range []struct {
		name string
		ok   bool
	}{
		{"killswitch", true},
		{"test_killswitch", true},
		{"nf-conntrack", true},
		{"esp4", true},
		{"", false},
		{"-v", false},
		{"--config=/tmp/x", false},
		{"a b", false},
		{"../../tmp/evil", false},
		{"x.ko", false},
		{strings.Repeat("a", MaxName), true},
		{strings.Repeat("a", MaxName+1), false},
	} {
		err := ValidateName(tc.name)
		if (err == nil) != tc.ok {
			t.Errorf("ValidateName(%q) = %v, want ok=%v", tc.name, err, tc.ok)
		}
	}
}

func TestCommandEndsOptions(t *testing.T) {
	cmd, err := Command(context.Background(), "af_alg")
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"modprobe", "--", "af_alg"}; !slices.Equal(cmd.Args, want) {
		t.Errorf("args = %q, want %q", cmd.Args, want)
	}
	if _, err := Command(context.Background(), "-r"); err == nil || !strings.Contains(err.Error(), `"-r"`) {
		t.Errorf("Command(-r) = %v, want an error naming it", err)
	}
	if err := Modprobe(context.Background(), "--dry-run"); err == nil {
		t.Error("Modprobe(--dry-run) ran")
	}
}
