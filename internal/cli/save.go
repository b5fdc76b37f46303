package cli

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/killswitch/killswitch/internal/ksfs"
)

// DefaultSaveFile is where save writes by default.
const DefaultSaveFile = "/etc/modprobe.d/killswitch.conf"

// ModparamLine renders engagements as the module parameter line. It
// returns the entries the parameter cannot express, with the reason, and
// leaves them out.
func ModparamLine(list []ksfs.Engagement) (line string, unsaved []string) {
	var items []string
	for _, e := range list {
		var why string
		switch {
		case e.BPFPin != "":
			why = "a BPF engagement (its pin " + e.BPFPin + " does not survive reboot; re-run engagebpf at boot)"
		case e.Filter != "":
			why = "has filters (" + e.Filter + "), which engage= cannot carry"
		case e.State == ksfs.StateProbing:
			why = "is still probing (save again once tryengage committed)"
		case e.State == ksfs.StateObserving:
			why = "is only observed"
		}
		if why != "" {
			unsaved = append(unsaved, e.Symbol+" "+why)
			continue
		}
		items = append(items, e.Symbol+"="+strconv.FormatInt(e.Retval, 10))
	}
	if len(items) == 0 {
		return "", unsaved
	}
	return "options killswitch engage=" + strings.Join(items, ","), unsaved
}

func (a *app) saveCommand() *cobra.Command {
	var file string
	var partial bool
	cmd := &cobra.Command{
		Use:     "save",
		GroupID: "change",
		Short:   "Persist the engagements as the module's engage= parameter",
		Long: `Save writes the current engagements to a modprobe.d file as
"options killswitch engage=sym=retval,...", with a header saying when and by
whom, so they come back whenever the module loads (add killswitch to
/etc/modules-load.d/ to load it at boot). Under lockdown=integrity this is
how to engage at all.

The parameter carries only a symbol and a value: engagements with filters,
probes still running, observed symbols and BPF engagements cannot be saved.
Save refuses (exit 2) and names them, unless --partial, which saves the rest.`,
		Example: `  killswitch save
  killswitch save --file /etc/modprobe.d/killswitch-cve.conf
  killswitch save --partial`,
		Args: argsBetween(0, 0),
		RunE: func(cmd *cobra.Command, args []string) error {
			list, err := a.client.Engagements()
			if err != nil {
				return err
			}
			if !a.client.Loaded() && len(list) == 0 {
				return a.client.Ready("save")
			}
			line, unsaved := ModparamLine(list)
			for _, u := range unsaved {
				if partial {
					a.warnf("warning: save: not saved: %s\n", u)
				} else {
					fmt.Fprintf(a.env.Stderr, "killswitch: save: cannot save %s\n", u)
				}
			}
			if len(unsaved) > 0 && !partial {
				return refused("save: nothing written to %s: the engage= parameter cannot express %d engagement(s) (--partial saves the others)", file, len(unsaved))
			}
			if line == "" {
				return refused("save: nothing engaged that can be saved; %s left as it is (remove it to stop engaging at load)", file)
			}
			header := fmt.Sprintf("# Written by killswitch save on %s by %s.\n"+
				"# The module engages these when it loads; remove this file to stop.\n",
				a.env.Now().UTC().Format(time.RFC3339), oneLine(a.env.User()))
			if err := writeFileAtomic(file, []byte(header+line+"\n")); err != nil {
				return fmt.Errorf("save: %w", err)
			}
			a.printf("saved to %s: %s\n", file, line)
			return nil
		},
	}
	cmd.Flags().StringVar(&file, "file", DefaultSaveFile, "modprobe.d file to write")
	cmd.Flags().BoolVar(&partial, "partial", false, "save what can be saved, warn about the rest")
	return cmd
}

// writeFileAtomic replaces path so a reader (modprobe at boot) never sees
// half a file.
func writeFileAtomic(path string, data []byte) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Chmod(0o644); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}
