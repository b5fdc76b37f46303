// Package kmod runs modprobe(8) for the killswitch tools, the one place
// that does: a module name is checked against the kernel's charset first
// and passed after "--", so a name can never be read as an option.
package kmod

import (
	"context"
	"fmt"
	"os/exec"
	"strings"
)

// MaxName is the longest module name the kernel keeps: MODULE_NAME_LEN
// (64 - sizeof(unsigned long)) less the terminating NUL.
const MaxName = 55

// ValidateName checks a kernel module name: letters, digits, '_' and '-'
// (modprobe treats the two as one), not starting with '-', at most MaxName
// characters.
func ValidateName(name string) error {
	switch {
	case name == "":
		return fmt.Errorf("module name is empty")
	case len(name) > MaxName:
		return fmt.Errorf("module name %.40q... is %d characters, longer than the kernel allows (%d)", name, len(name), MaxName)
	case name[0] == '-':
		return fmt.Errorf("module name %q starts with '-': no kernel module does (it would read as an option)", name)
	}
	for _, r := range name {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '_', r == '-':
		default:
			return fmt.Errorf("module name %q: character %q cannot be part of a kernel module name (letters, digits, _ and -)", name, r)
		}
	}
	return nil
}

// Command is the modprobe invocation for name, after ValidateName.
func Command(ctx context.Context, name string) (*exec.Cmd, error) {
	if err := ValidateName(name); err != nil {
		return nil, fmt.Errorf("modprobe: %w", err)
	}
	return exec.CommandContext(ctx, "modprobe", "--", name), nil
}

// Modprobe loads a kernel module with modprobe(8).
func Modprobe(ctx context.Context, name string) error {
	cmd, err := Command(ctx, name)
	if err != nil {
		return err
	}
	out, err := cmd.CombinedOutput()
	if err != nil {
		msg := strings.TrimSpace(string(out))
		if msg == "" {
			msg = "no output"
		}
		return fmt.Errorf("modprobe %s: %w: %s (run it by hand to see more)", name, err, msg)
	}
	return nil
}
