package agent

import (
	"strings"
	"testing"
)

func TestParseUevent(t *testing.T) {
	msg := func(parts ...string) []byte { return []byte(strings.Join(parts, "\x00") + "\x00") }
	tests := []struct {
		name string
		in   []byte
		want Event
		ok   bool
	}{
		{"add", msg("add@/module/killswitch", "ACTION=add", "DEVPATH=/module/killswitch", "SUBSYSTEM=module", "SEQNUM=1"),
			Event{Module: "killswitch", Action: "add"}, true},
		{"remove", msg("remove@/module/af_alg", "ACTION=remove", "DEVPATH=/module/af_alg", "SUBSYSTEM=module"),
			Event{Module: "af_alg", Action: "remove"}, true},
		{"other subsystem", msg("add@/devices/virtual/net/lo", "ACTION=add", "DEVPATH=/devices/virtual/net/lo", "SUBSYSTEM=net"), Event{}, false},
		{"module change", msg("change@/module/x", "ACTION=change", "DEVPATH=/module/x", "SUBSYSTEM=module"), Event{}, false},
		{"udev rebroadcast", msg("libudev", "ACTION=add", "SUBSYSTEM=module", "DEVPATH=/module/x"), Event{}, false},
		{"nested devpath", msg("add@/module/x/holders", "ACTION=add", "DEVPATH=/module/x/holders", "SUBSYSTEM=module"), Event{}, false},
		{"empty", nil, Event{}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := parseUevent(tt.in)
			if ok != tt.ok || got != tt.want {
				t.Errorf("got %+v %v, want %+v %v", got, ok, tt.want, tt.ok)
			}
		})
	}
}
