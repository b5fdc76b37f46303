// Command gen writes the guard rails' C and Go tables from their one
// source: gen <guard.rails> <ks_guard_rails.h> <guard_rails.go>. Run it
// through "go generate ./internal/preflight".
package main

import (
	"fmt"
	"os"

	"github.com/killswitch/killswitch/internal/preflight/internal/rails"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "rails/gen:", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	if len(args) != 3 {
		return fmt.Errorf("usage: gen <guard.rails> <ks_guard_rails.h> <guard_rails.go>")
	}
	src, err := os.ReadFile(args[0])
	if err != nil {
		return err
	}
	rules, err := rails.Parse(args[0], src)
	if err != nil {
		return err
	}
	g, err := rails.Go(rules)
	if err != nil {
		return fmt.Errorf("format the Go table: %w", err)
	}
	if err := os.WriteFile(args[1], rails.C(rules), 0o644); err != nil {
		return err
	}
	return os.WriteFile(args[2], g, 0o644)
}
