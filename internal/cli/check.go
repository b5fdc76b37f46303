package cli

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/killswitch/killswitch/internal/preflight"
)

func (a *app) checkCommand() *cobra.Command {
	var asJSON, force, observe bool
	var module string
	cmd := &cobra.Command{
		Use:     "check <symbol> [retval] [filter...]",
		GroupID: "look",
		Short:   "Pre-flight: is it safe to engage this function with this value?",
		Long: `Check runs the pre-flight that engage and tryengage run, and changes
nothing. It reads the prototype from kernel BTF (/sys/kernel/btf/vmlinux, and
/sys/kernel/btf/<module> for module symbols) and judges the value against it:
void → refused unless --force; pointer → only 0 (NULL) or an errno (ERR_PTR),
with a warning about callers; bool → 0 or 1; integers → warned unless a
negative errno. It looks the name up in kallsyms (module, several functions of
that name, only .isra/.constprop clones, module not loaded), in ftrace's
available_filter_functions and the kprobe blacklist, and applies the module's
guard rails, lockdown and the kernel config.

Exit code: 0 ok, 1 warnings, 2 refused.`,
		Example: `  killswitch check af_alg_sendmsg -1
  killswitch check __sys_socket -97 arg1=38
  killswitch check esp_input -22 --module esp4
  killswitch check filp_open 0 --json`,
		Args: argsBetween(1, 2+6),
		RunE: func(cmd *cobra.Command, args []string) error {
			t, err := parseTarget("check", args, 2)
			if err != nil {
				return err
			}
			req := preflight.Request{Symbol: t.sym, Filters: t.filters, Force: force, Module: module, Observe: observe}
			if len(args) > 1 {
				req.Retval = &t.retval
			}
			r := a.host.Check(req)
			if asJSON {
				if err := a.printJSON(r); err != nil {
					return err
				}
			} else {
				a.printReport(r)
			}
			switch r.Verdict {
			case preflight.Refuse:
				return silent(ExitRefused)
			case preflight.Warn:
				return silent(ExitWarn)
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON for machines")
	cmd.Flags().BoolVar(&force, "force", false, "judge as engage --force would")
	cmd.Flags().BoolVar(&observe, "observe", false, "judge for observe (nothing overridden)")
	cmd.Flags().StringVar(&module, "module", "", "the module expected to hold the symbol")
	return cmd
}

func (a *app) printReport(r *preflight.Report) {
	what := r.Symbol
	if r.Retval != nil {
		what += fmt.Sprintf(" %d", *r.Retval)
	}
	a.printf("%s: %s\n", what, r.Verdict)
	for _, f := range r.Findings {
		a.printf("  %-6s %-9s %s\n", f.Verdict, f.Check, f)
	}
}
