package daemon

import (
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/killswitch/killswitch/internal/hostfs"
	"github.com/killswitch/killswitch/internal/ksfs"
	"github.com/killswitch/killswitch/internal/policy"
	"github.com/killswitch/killswitch/internal/rootfile"
	"github.com/killswitch/killswitch/internal/trust"
)

func validateCommand(stdout io.Writer) *cobra.Command {
	var release, version string
	var here bool
	var tf trustFlags
	cmd := &cobra.Command{
		Use:   "validate <policy.yaml>...",
		Short: "Check policy files without applying anything",
		Long: `Validate parses each policy file as the agent would and lists every
problem with its line; exit 1 if any file is invalid. With --kernel-release
(and --kernel-version) or --this-host it also shows what the policy asks of
that kernel now: the engagements, and the entries that do not apply and why.
Run it in CI before pushing a policy to the fleet.

It applies the trust policy the agent would (--trust, --trust-allowlist) and,
with --trust-keys, checks the signature <policy.yaml>.sig: an entry the node
would refuse, or a missing or bad signature, makes the file invalid. Give it
the flags the nodes run with. It reads the allowlist and keys without
checking that root owns them: only the agent acts on them.`,
		Example: `  killswitchd validate deploy/policy.yaml
  killswitchd validate --kernel-release 6.1.0-56-amd64 --kernel-version 6.1.192 policy.yaml
  killswitchd validate --this-host /etc/killswitch/policy.yaml
  killswitchd validate --trust=allowlist --trust-allowlist=allowlist --trust-keys=keys/ policy.yaml`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			var k *policy.Kernel
			switch {
			case here:
				kk, err := thisKernel()
				if err != nil {
					return &exitError{ExitError, err}
				}
				k = &kk
			case release != "":
				kk := policy.Kernel{Release: release}
				if version != "" {
					v, err := policy.ParseVersion(version)
					if err != nil {
						return &exitError{ExitError, fmt.Errorf("--kernel-version: %w", err)}
					}
					kk.Version = v
				} else {
					kk = policy.KernelFromUname(release, "", "")
				}
				k = &kk
			case version != "":
				return &exitError{ExitError, errors.New("--kernel-version needs --kernel-release")}
			}
			rules, keys, err := tf.load(rootfile.AnyOwner)
			if err != nil {
				return &exitError{ExitError, err}
			}
			bad := 0
			for _, path := range args {
				if !validate(stdout, path, k, time.Now(), rules, keys) {
					bad++
				}
			}
			if bad > 0 {
				return &exitError{ExitInvalid, nil}
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&release, "kernel-release", "", "show the selection for this uname -r")
	cmd.Flags().StringVar(&version, "kernel-version", "", "the upstream version of --kernel-release (e.g. 6.1.192), when the release does not say")
	cmd.Flags().BoolVar(&here, "this-host", false, "show the selection for the running kernel")
	tf.add(cmd.Flags())
	return cmd
}

func thisKernel() (policy.Kernel, error) {
	fsys := hostfs.Dir("/")
	rel, err := fsys.ReadFile("/proc/sys/kernel/osrelease")
	if err != nil {
		return policy.Kernel{}, fmt.Errorf("read the running kernel's release: %w", err)
	}
	ver, _ := fsys.ReadFile("/proc/sys/kernel/version")
	sig, _ := fsys.ReadFile("/proc/version_signature")
	return policy.KernelFromUname(string(rel), string(ver), string(sig)), nil
}

// validate prints the verdict on one file and reports whether it is
// valid: parsed, signed when keys are given, and nothing in it refused by
// the trust rules.
func validate(w io.Writer, path string, k *policy.Kernel, now time.Time, rules trust.Rules, keys trust.Keys) bool {
	data, err := policy.ReadFile(path)
	if err != nil {
		fmt.Fprintf(w, "%s: cannot read: %v\n", path, err)
		return false
	}
	signedBy := ""
	if len(keys) > 0 {
		sig, err := trust.ReadSignature(path)
		if err == nil {
			signedBy, err = keys.Verify(data, sig)
		}
		if err != nil {
			fmt.Fprintf(w, "%s: invalid: signature %s%s: %v\n", path, path, trust.SigSuffix, err)
			return false
		}
	}
	p, err := policy.Parse(data, defaultCatalog())
	if err != nil {
		var perr *policy.Error
		if errors.As(err, &perr) {
			fmt.Fprintf(w, "%s: invalid, %d problem(s):\n", path, len(perr.Problems))
			for _, pr := range perr.Problems {
				fmt.Fprintf(w, "  %s\n", pr)
			}
		} else {
			fmt.Fprintf(w, "%s: invalid: %v\n", path, err)
		}
		return false
	}
	if refusals := rules.Check(p); len(refusals) > 0 {
		fmt.Fprintf(w, "%s: invalid on a node with --trust=%s: %d target(s) refused:\n", path, rules.Level, len(refusals))
		for _, r := range refusals {
			fmt.Fprintf(w, "  %s\n", r.Message)
		}
		return false
	}
	targets := 0
	for _, e := range p.Entries {
		targets += len(e.Targets)
	}
	fmt.Fprintf(w, "%s: valid: version %q, %d entries, %d engagements", path, p.Version, len(p.Entries), targets)
	if p.Exclusive {
		fmt.Fprint(w, ", exclusive")
	}
	fmt.Fprintf(w, ", allowed by --trust=%s", rules.Level)
	if signedBy != "" {
		fmt.Fprintf(w, ", signed by %s", signedBy)
	}
	fmt.Fprintln(w)
	if k == nil {
		return true
	}
	sel, err := p.Select(*k, now)
	if err != nil {
		fmt.Fprintf(w, "  on %s: %v\n", k, err)
		return false
	}
	fmt.Fprintf(w, "  on %s now:\n", k)
	for _, t := range sel.Targets {
		extra := ""
		if t.Module != "" {
			extra = " (module " + t.Module
			if t.Load {
				extra += ", loaded if absent"
			}
			extra += ")"
		}
		if !t.Expires.IsZero() {
			extra += " until " + t.Expires.UTC().Format(time.RFC3339)
		}
		fmt.Fprintf(w, "    %-20s %s%s\n", t.Entry, describe(t), extra)
	}
	for _, s := range sel.Skipped {
		fmt.Fprintf(w, "    %-20s skipped, %s: %s\n", s.Entry, s.Reason, s.Detail)
	}
	return true
}

func describe(t policy.Target) string {
	s := t.Command().String()
	if t.Verb != ksfs.VerbObserve {
		s += "   # returns " + ksfs.FormatRetval(t.Retval)
		if len(t.Filters) > 0 {
			s += " when " + strings.ReplaceAll(ksfs.FormatFilters(t.Filters), ",", " and ")
		}
	}
	return s
}
