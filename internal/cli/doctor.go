package cli

import (
	"github.com/spf13/cobra"

	"github.com/killswitch/killswitch/internal/preflight"
)

func (a *app) doctorCommand() *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:     "doctor",
		GroupID: "look",
		Short:   "Check that this host can run killswitch",
		Long: `Doctor checks everything the host needs, one line each, ok/warn/fail with
the fix: the module (loaded, or installed), securityfs, the control
interface, kernel config (KPROBES, KPROBES_ON_FTRACE, FTRACE, SECURITYFS,
MODULES), kprobes' global switch, the lockdown level and what it allows,
kernel BTF, engagebpf support (kernel config and a real BPF feature probe),
bpffs, /usr/sbin/ks-bpf-load, Secure Boot and module signature enforcement.

Exit code: 0 all ok, 1 warnings, 2 something killswitch needs is missing.`,
		Example: `  killswitch doctor
  killswitch doctor --json`,
		Args: argsBetween(0, 0),
		RunE: func(cmd *cobra.Command, args []string) error {
			findings := a.host.Doctor(preflight.DoctorOptions{ProbeBPF: a.env.ProbeBPF})
			worst := preflight.Skip
			for _, f := range findings {
				worst = max(worst, f.Verdict)
			}
			if asJSON {
				if err := a.printJSON(findings); err != nil {
					return err
				}
			} else {
				for _, f := range findings {
					label := f.Verdict.String()
					if f.Verdict == preflight.Refuse {
						label = "fail"
					}
					a.printf("%-5s %-11s %s\n", label, f.Check, f)
				}
			}
			switch worst {
			case preflight.Refuse:
				return silent(ExitRefused)
			case preflight.Warn:
				return silent(ExitWarn)
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON for machines")
	return cmd
}
