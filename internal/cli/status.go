package cli

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/killswitch/killswitch/internal/ksfs"
)

// statusJSON is status --json. Field names are a contract with
// automation: add, never rename.
type statusJSON struct {
	ModuleLoaded bool             `json:"module_loaded"`
	Taint        bool             `json:"taint"`
	Lockdown     string           `json:"lockdown"`
	Engagements  []engagementJSON `json:"engagements"`
}

type engagementJSON struct {
	Symbol string `json:"symbol"`
	State  string `json:"state"`
	// Mechanism is "kprobe" for the module's engagements, "bpf" for pins.
	Mechanism          string            `json:"mechanism"`
	Retval             int64             `json:"retval"`
	Errno              string            `json:"errno,omitempty"`
	Filter             string            `json:"filter,omitempty"`
	Hits               uint64            `json:"hits"`
	Passed             uint64            `json:"passed"`
	Missed             uint64            `json:"missed"`
	SinceBootSeconds   int64             `json:"since_boot_seconds,omitempty"`
	TimeoutLeftSeconds int64             `json:"timeout_left_seconds"`
	BPFPin             string            `json:"bpf_pin,omitempty"`
	Callers            []callerJSON      `json:"callers,omitempty"`
	Extra              map[string]string `json:"extra,omitempty"`
}

type callerJSON struct {
	Comm string `json:"comm"`
	PID  int    `json:"pid"`
	UID  uint32 `json:"uid"`
}

func toJSON(e ksfs.Engagement, callers []ksfs.Caller) engagementJSON {
	j := engagementJSON{
		Symbol: e.Symbol, State: string(e.State), Mechanism: "kprobe",
		Retval: e.Retval, Errno: ksfs.ErrnoName(e.Retval), Filter: e.Filter,
		Hits: e.Hits, Passed: e.Passed, Missed: e.Missed,
		SinceBootSeconds:   int64(e.Since / time.Second),
		TimeoutLeftSeconds: int64(e.TimeoutLeft / time.Second),
		BPFPin:             e.BPFPin, Extra: e.Extra,
	}
	if e.BPFPin != "" {
		j.Mechanism = "bpf"
	}
	for _, c := range callers {
		j.Callers = append(j.Callers, callerJSON(c))
	}
	return j
}

func (a *app) statusCommand() *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:     "status [symbol]",
		GroupID: "look",
		Short:   "Show what is engaged",
		Long: `Status lists the engagements: the module's (engaged, probing, observing) and
BPF pins under /sys/fs/bpf/killswitch, with their counters: hits (calls the
filters selected: overridden once engaged), passed (calls the filters let
through), missed (calls where the probe could not run and the function ran
anyway), since (how long ago it was made) and the time left on a probe.
With a symbol it shows that one in detail, with its recent callers.`,
		Example: `  killswitch status
  killswitch status --json | jq '.engagements[] | {symbol, hits}'
  killswitch status ksmbd_smb2_negotiate`,
		Args:              argsBetween(0, 1),
		ValidArgsFunction: a.completeEngaged,
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) == 1 {
				return a.statusOne(args[0], asJSON)
			}
			return a.statusAll(asJSON)
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON for machines")
	return cmd
}

func (a *app) statusAll(asJSON bool) error {
	st := statusJSON{ModuleLoaded: a.client.Loaded(), Engagements: []engagementJSON{}}
	if st.ModuleLoaded {
		taint, err := a.client.Taint()
		if err != nil {
			return err
		}
		st.Taint = taint
	}
	lockdown, err := a.client.Lockdown()
	if err != nil {
		return err
	}
	st.Lockdown = string(lockdown)
	list, err := a.client.Engagements()
	if err != nil {
		return err
	}
	for _, e := range list {
		st.Engagements = append(st.Engagements, toJSON(e, nil))
	}

	if asJSON {
		return a.printJSON(st)
	}
	if st.ModuleLoaded {
		a.printf("module: loaded, taint=%d, lockdown=%s\n", b2i(st.Taint), st.Lockdown)
	} else {
		a.printf("module: not loaded (modprobe killswitch), lockdown=%s\n", st.Lockdown)
	}
	if len(list) == 0 {
		a.printf("nothing engaged\n")
		return nil
	}
	uptime := a.uptime()
	tw := tabwriter.NewWriter(a.env.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "SYMBOL\tSTATE\tRETVAL\tFILTER\tHITS\tPASSED\tMISSED\tSINCE\tLEFT")
	for _, e := range list {
		if e.BPFPin != "" {
			fmt.Fprintf(tw, "%s\tbpf\t(program)\t-\t-\t-\t-\t-\t-\n", e.Symbol)
			continue
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%d\t%d\t%s\t%s\n", e.Symbol, e.State, ksfs.FormatRetval(e.Retval),
			dash(e.Filter), e.Hits, e.Passed, e.Missed, since(e.Since, uptime), left(e))
	}
	return tw.Flush()
}

func (a *app) statusOne(sym string, asJSON bool) error {
	e, err := a.client.Engagement(sym)
	if err != nil {
		return err
	}
	var callers []ksfs.Caller
	if e.BPFPin == "" {
		if callers, err = a.client.Callers(sym); err != nil {
			return err
		}
	}
	if asJSON {
		return a.printJSON(toJSON(e, callers))
	}
	if e.BPFPin != "" {
		a.printf("%s: BPF engagement pinned at %s (the program decides; rm the pin or killswitch disengage %s to end it)\n", sym, e.BPFPin, sym)
		return nil
	}
	tw := tabwriter.NewWriter(a.env.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "symbol\t%s\n", e.Symbol)
	fmt.Fprintf(tw, "state\t%s\n", e.State)
	fmt.Fprintf(tw, "retval\t%s\n", ksfs.FormatRetval(e.Retval))
	fmt.Fprintf(tw, "filter\t%s\n", dash(e.Filter))
	fmt.Fprintf(tw, "hits\t%d\n", e.Hits)
	fmt.Fprintf(tw, "passed\t%d\n", e.Passed)
	fmt.Fprintf(tw, "missed\t%d\n", e.Missed)
	fmt.Fprintf(tw, "since\t%s\n", since(e.Since, a.uptime()))
	if e.State == ksfs.StateProbing {
		fmt.Fprintf(tw, "left\t%v\n", e.TimeoutLeft)
	}
	for k, v := range e.Extra {
		fmt.Fprintf(tw, "%s\t%s\n", k, v)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if len(callers) > 0 {
		a.printf("recent callers:\n")
		tw = tabwriter.NewWriter(a.env.Stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "  COMM\tPID\tUID")
		for _, c := range callers {
			fmt.Fprintf(tw, "  %s\t%d\t%d\n", c.Comm, c.PID, c.UID)
		}
		return tw.Flush()
	}
	return nil
}

func (a *app) printJSON(v any) error {
	enc := json.NewEncoder(a.env.Stdout)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// uptime reads /proc/uptime; zero if unreadable.
func (a *app) uptime() time.Duration {
	b, err := a.env.FS.ReadFile("/proc/uptime")
	if err != nil {
		return 0
	}
	f := strings.Fields(string(b))
	if len(f) == 0 {
		return 0
	}
	s, err := strconv.ParseFloat(f[0], 64)
	if err != nil {
		return 0
	}
	return time.Duration(s * float64(time.Second))
}

func since(at, uptime time.Duration) string {
	switch {
	case at == 0:
		return "-"
	case uptime >= at:
		return (uptime - at).Truncate(time.Second).String() + " ago"
	default:
		return fmt.Sprintf("boot+%v", at)
	}
}

func left(e ksfs.Engagement) string {
	if e.State != ksfs.StateProbing {
		return "-"
	}
	return e.TimeoutLeft.String()
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}
