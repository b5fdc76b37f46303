package preflight

import (
	"testing"

	"github.com/killswitch/killswitch/internal/hostfs"
	"github.com/killswitch/killswitch/internal/preflight/preflighttest"
)

const (
	fixtureRelease         = preflighttest.Release
	fixtureKallsyms        = preflighttest.Kallsyms
	fixtureFilterFunctions = preflighttest.FilterFunctions
	fixtureConfig          = preflighttest.Config
)

// newFixture writes the fixture host under a temp dir.
func newFixture(t *testing.T) (*Host, string) {
	t.Helper()
	root := t.TempDir()
	if err := preflighttest.Write(root); err != nil {
		t.Fatal(err)
	}
	return NewHost(hostfs.Dir(root)), root
}
