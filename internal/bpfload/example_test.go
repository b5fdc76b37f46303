package bpfload_test

import (
	"fmt"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"

	"github.com/killswitch/killswitch/internal/bpfload"
)

// A mitigation object holds one entry kprobe program; ks-bpf-load picks it
// whatever else the object carries.
func ExampleSelectKprobe() {
	insns := asm.Instructions{asm.LoadImm(asm.R0, 0, asm.DWord), asm.Return()}
	spec := &ebpf.CollectionSpec{Programs: map[string]*ebpf.ProgramSpec{
		"ks_tc_modify_qdisc": {Type: ebpf.Kprobe, SectionName: "kprobe/tc_modify_qdisc", Instructions: insns},
		"stats":              {Type: ebpf.Kprobe, SectionName: "kretprobe/tc_modify_qdisc", Instructions: insns},
	}}
	name, err := bpfload.SelectKprobe(spec)
	fmt.Println(name, err)
	// Output: ks_tc_modify_qdisc <nil>
}
