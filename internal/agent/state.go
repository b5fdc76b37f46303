package agent

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/killswitch/killswitch/internal/ksfs"
)

// StateFile is the name of the ownership record in the state directory.
const StateFile = "owned.json"

// stateSchema versions the file's format. Schema 1 records lacked the
// symbol, retval and filters as separate fields; they are dropped on
// upgrade, which errs on the side of leaving engagements alone.
const stateSchema = 2

// state is what the agent must remember across restarts: which
// engagements it made. It lives in a runtime directory (/run/killswitchd),
// so a reboot, which ends every engagement, also forgets them; the boot id
// guards against a directory that survives one.
type state struct {
	Schema int    `json:"schema"`
	BootID string `json:"boot_id"`
	// Owned maps a symbol to the engagement the agent made of it.
	Owned map[string]*owned `json:"owned"`
	// Aborted maps a symbol to the tryengage command the module aborted
	// (the function was called during the probe): not retried until the
	// policy asks for something else.
	Aborted map[string]string `json:"aborted,omitempty"`
}

// owned is one engagement the agent made: exactly what it wrote and what
// the module showed back, so that it touches only an engagement that
// matches all of it.
type owned struct {
	Entry string `json:"entry"`
	// Symbol, Retval and Filter are the engagement as made (Filter in
	// the module's fn/<sym>/filter form; Retval 0 for observe).
	Symbol string `json:"symbol"`
	Retval int64  `json:"retval"`
	Filter string `json:"filter"`
	// Shape is the engagement as the module shows it once made: the
	// engage (or observe) line, whatever verb made it.
	Shape string    `json:"shape"`
	Verb  ksfs.Verb `json:"verb"`
	// Command is the control line the agent wrote.
	Command string `json:"command"`
	// Instance identifies the loaded killswitch module the engagement
	// was made in (see Agent.instance).
	Instance uint64 `json:"instance"`
	// Since is the module's fn/<sym>/since for the engagement (seconds
	// since boot), read back after the write. An engagement of the
	// symbol with another since was made by someone else; 0 (never read
	// back) means the agent cannot tell, so it is not treated as ours.
	Since int64 `json:"since"`
	// State is the module's state when last seen; a tryengage last seen
	// probing that vanished was aborted.
	State         ksfs.State `json:"state"`
	PolicyVersion string     `json:"policy_version"`
	Engaged       time.Time  `json:"engaged"`
}

func newState(bootID string) *state {
	return &state{Schema: stateSchema, BootID: bootID, Owned: map[string]*owned{}, Aborted: map[string]string{}}
}

// loadState reads the state file; a missing file, another boot's file or
// an unreadable one start empty, the latter two with a note to log.
func loadState(path, bootID string) (*state, string) {
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return newState(bootID), ""
	}
	if err != nil {
		return newState(bootID), fmt.Sprintf("cannot read %s (%v): starting without ownership records, so engagements made before are treated as someone else's", path, err)
	}
	var s state
	if err := json.Unmarshal(b, &s); err != nil || s.Schema != stateSchema {
		if err == nil {
			err = fmt.Errorf("schema %d, want %d", s.Schema, stateSchema)
		}
		return newState(bootID), fmt.Sprintf("cannot parse %s (%v): starting without ownership records, so engagements made before are treated as someone else's", path, err)
	}
	if s.BootID != bootID {
		return newState(bootID), fmt.Sprintf("%s is from another boot: forgetting its %d engagements (a reboot ended them)", path, len(s.Owned))
	}
	if s.Owned == nil {
		s.Owned = map[string]*owned{}
	}
	if s.Aborted == nil {
		s.Aborted = map[string]string{}
	}
	return &s, ""
}

// save writes the state atomically: a crash leaves the old file or the
// new one, never half of one.
func (s *state) save(path string) error {
	b, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return fmt.Errorf("save ownership records: %w", err)
	}
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("save ownership records: %w", err)
	}
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".*")
	if err != nil {
		return fmt.Errorf("save ownership records: %w", err)
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(append(b, '\n')); err != nil {
		tmp.Close()
		return fmt.Errorf("save ownership records to %s: %w", tmp.Name(), err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return fmt.Errorf("save ownership records to %s: %w", tmp.Name(), err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("save ownership records to %s: %w", tmp.Name(), err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("save ownership records: %w", err)
	}
	return nil
}

// ours reports whether the engagement e is the one o records: same
// symbol, retval, filters, kind (observe or engage) and since. Anything
// missing on either side means it is not ours, so the agent never
// disengages or changes an engagement it cannot prove it made.
//
// since has a resolution of one second: someone who disengages the
// agent's engagement and makes an identical one within that second is
// taken for the agent, which then keeps what it asked for anyway. When
// the module records an origin (a "tag=<word>" on the control line shown
// back in fn/<sym>/tag), the agent should write a tag only it uses and
// compare it here too.
func (o *owned) ours(e ksfs.Engagement) bool {
	since := int64(e.Since / time.Second)
	switch {
	case o.Symbol == "" || o.Shape == "" || o.Since == 0 || since == 0:
		return false
	case e.Symbol != o.Symbol || since != o.Since:
		return false
	case e.State != ksfs.StateObserving && (e.Retval != o.Retval || e.Filter != o.Filter):
		return false
	}
	return shapeOf(e) == o.Shape
}

// shapeOf is the control line that would make e as it is now.
func shapeOf(e ksfs.Engagement) string {
	if e.State == ksfs.StateObserving {
		return ksfs.Observe(e.Symbol).String()
	}
	fs, err := e.Filters()
	if err != nil {
		return ""
	}
	return ksfs.Engage(e.Symbol, e.Retval, fs...).String()
}
