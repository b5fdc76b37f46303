package agent

import (
	"strings"
	"testing"
)

// FuzzParseUevent: whatever the netlink socket delivers, an accepted
// event names one module (a single path element) and add or remove, and
// the kernel's own rendering of that event parses back to it.
func FuzzParseUevent(f *testing.F) {
	f.Add([]byte("add@/module/killswitch\x00ACTION=add\x00DEVPATH=/module/killswitch\x00SUBSYSTEM=module\x00SEQNUM=1\x00"))
	f.Add([]byte("libudev\x00ACTION=remove\x00DEVPATH=/module/x\x00SUBSYSTEM=module"))
	f.Add([]byte("remove@/module/a/b\x00ACTION=remove\x00DEVPATH=/module/a/b\x00SUBSYSTEM=module"))
	f.Fuzz(func(t *testing.T, b []byte) {
		ev, ok := parseUevent(b)
		if !ok {
			return
		}
		if ev.Module == "" || strings.Contains(ev.Module, "/") || (ev.Action != "add" && ev.Action != "remove") {
			t.Fatalf("%q: accepted %+v", b, ev)
		}
		dev := "/module/" + ev.Module
		again := ev.Action + "@" + dev + "\x00ACTION=" + ev.Action + "\x00DEVPATH=" + dev + "\x00SUBSYSTEM=module\x00"
		if back, ok := parseUevent([]byte(again)); !ok || back != ev {
			t.Fatalf("%q -> %+v -> %q -> %+v, %v", b, ev, again, back, ok)
		}
	})
}
