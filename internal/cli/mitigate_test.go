package cli

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// mitigationHost adds to the fixture host what the catalog's entries need:
// Debian's uname -v and a few catalog targets in kallsyms.
func mitigationHost(t *testing.T, unameV string) *harness {
	t.Helper()
	h := newHarness(t)
	write := func(name, data string, appendTo bool) {
		p := filepath.Join(h.root, name)
		flag := os.O_CREATE | os.O_WRONLY | os.O_TRUNC
		if appendTo {
			flag = os.O_CREATE | os.O_WRONLY | os.O_APPEND
		}
		f, err := os.OpenFile(p, flag, 0o644)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := f.WriteString(data); err != nil {
			t.Fatal(err)
		}
		f.Close()
	}
	write("proc/sys/kernel/version", unameV+"\n", false)
	write("proc/kallsyms", "ffffffffc0100000 t af_alg_sendmsg\t[af_alg]\n"+
		"ffffffff81400000 t tc_modify_qdisc\n"+
		"ffffffffc0200000 t bond_enslave\t[bonding]\n", true)
	// ftrace manages them: the module accepts nothing else.
	write("sys/kernel/tracing/available_filter_functions", "af_alg_sendmsg [af_alg]\ntc_modify_qdisc\nbond_enslave [bonding]\n", true)
	return h
}

const debian61 = "#1 SMP PREEMPT_DYNAMIC Debian 6.1.192-2 (2025-10-20)"

func TestMitigationsList(t *testing.T) {
	h := mitigationHost(t, debian61)
	out := h.expect(ExitOK, []string{"kernel 6.1.192 (from uname -v (Debian 6.1.192))", "CVE-2026-31431", "needs-module", "81 entries:"}, "mitigations")
	if !strings.Contains(out, "CVE-2025-21700  engagebpf  tc_modify_qdisc") || !strings.Contains(out, "not-affected") {
		t.Errorf("list:\n%s", out)
	}
	out = h.expect(ExitOK, nil, "mitigations", "list", "--json")
	var list []struct {
		ID      string `json:"id"`
		Verdict string `json:"verdict"`
	}
	if err := json.Unmarshal([]byte(out), &list); err != nil || len(list) != 81 {
		t.Fatalf("list --json: %d entries, %v", len(list), err)
	}
	h.expect(ExitOK, []string{
		"CVE-2026-31431 (Copy Fail): crypto: algif_aead",
		"target:     af_alg_sendmsg returns -1 (EPERM) (int reviewed), in module af_alg",
		"6.12: present in module af_alg",
		"effect:     af_alg_sendmsg() queues",
		"here:       needs-module",
		"engage af_alg_sendmsg -1",
	}, "mitigations", "show", "cve-2026-31431")
	h.expect(ExitError, []string{"CVE-1999-1 is not in the mitigation catalog"}, "mitigations", "show", "CVE-1999-1")
	h.expect(ExitError, []string{"want list or show <CVE>"}, "mitigations", "frobnicate")
}

func TestMitigate(t *testing.T) {
	h := mitigationHost(t, debian61)
	h.expect(ExitRefused, []string{"modules af_alg, algif_aead are not loaded", "pass --load"}, "mitigate", "CVE-2026-31431")
	if l, _ := h.m.ReadFile("/sys/kernel/security/killswitch/engaged"); len(l) != 0 {
		t.Fatalf("refused mitigate engaged something: %s", l)
	}

	h.expect(ExitWarn, []string{"loading module af_alg", "loading module algif_aead", "engaged: engage af_alg_sendmsg -1",
		"mitigated CVE-2026-31431 (Copy Fail)"}, "mitigate", "CVE-2026-31431", "--load")
	if strings.Join(h.modprobed, ",") != "af_alg,algif_aead" {
		t.Errorf("modprobe calls: %v", h.modprobed)
	}
	h.expect(ExitRefused, []string{"already engaged"}, "mitigate", "CVE-2026-31431")

	// A fixed kernel: nothing to do, unless asked.
	h.expect(ExitOK, []string{"kernel 6.1.192 (from uname -v (Debian 6.1.192)): not-affected", "not needed", "nothing was changed"}, "mitigate", "CVE-2025-21700")
	h.expect(ExitWarn, []string{"--any-version", "no BPF override here: engaging with the native filter uid!=0",
		"engaged: engage tc_modify_qdisc -1 uid!=0"}, "mitigate", "CVE-2025-21700", "--any-version")

	// Dry run: the lines, nothing written.
	h.expect(ExitOK, []string{"module bonding is not loaded: mitigate needs --load", "dry run: would write to /sys/kernel/security/killswitch/control:", "  tryengage bond_enslave -95 5"},
		"mitigate", "CVE-2026-43456", "--dry-run", "--probe", "5s")
	if _, err := h.m.ReadFile("/sys/kernel/security/killswitch/fn/bond_enslave/state"); err == nil {
		t.Error("dry run engaged bond_enslave")
	}

	h.expect(ExitRefused, []string{"the catalog has no mitigation for it"}, "mitigate", "CVE-2026-43402")
	h.expect(ExitRefused, []string{"cannot apply here", "no function io_register_resize_rings in kallsyms",
		"feature-absent: io_uring ring resizing arrived in 6.13"}, "mitigate", "CVE-2026-23275", "--any-version")
	h.expect(ExitError, []string{"--probe"}, "mitigate", "CVE-2026-43456", "--probe", "forever")
}

func TestMitigateTryEngage(t *testing.T) {
	h := mitigationHost(t, debian61)
	h.expect(ExitWarn, []string{"engaged: tryengage bond_enslave -95 3", "probing bond_enslave: 3s left, hits=0",
		"tryengage bond_enslave committed", "mitigated CVE-2026-43456"},
		"mitigate", "CVE-2026-43456", "--probe", "3", "--load")

	// Called during the probe: aborted, said so, exit 2.
	h.m.Unload()
	h.m.Load("")
	h.onSleep = func(d time.Duration) error {
		h.m.Call("bond_enslave", "ip", 1, 0)
		return h.m.Advance(d)
	}
	out := h.expect(ExitRefused, []string{"not mitigated: bond_enslave called during the probe; nothing is engaged"},
		"mitigate", "CVE-2026-43456", "--probe", "3", "--json")
	var res struct {
		Verdict string   `json:"verdict"`
		Applied []string `json:"applied"`
		Aborted []string `json:"aborted"`
		Lines   []string `json:"control_lines"`
	}
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatalf("mitigate --json: %v\n%s", err, out)
	}
	if res.Verdict != "applies" || len(res.Applied) != 0 || len(res.Aborted) != 1 || res.Lines[0] != "tryengage bond_enslave -95 3" {
		t.Errorf("mitigate --json: %+v", res)
	}
}

func TestMitigateUnknownVersion(t *testing.T) {
	h := mitigationHost(t, "#1 SMP")
	h.expect(ExitWarn, []string{"kernel version unknown", "treated as affected", "engaged: engage af_alg_sendmsg -1"},
		"mitigate", "CVE-2026-31431", "--load")
	h.expect(ExitOK, []string{"kernel 6.1.100 (from --kernel-version): affected", "tryengage handle_generic_event -22 300"}, "mitigate", "CVE-2025-21947", "--kernel-version", "6.1.100", "--dry-run")
}
