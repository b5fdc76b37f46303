// Package preflighttest writes a fixture host for pre-flight tests: a
// small kernel whose BTF is built with cilium/ebpf's btf package, a module
// (test_killswitch) with split BTF on top of it, and the text files the
// checks read (kallsyms, available_filter_functions, the kprobe blacklist,
// lockdown, kernel config, modules.symbols).
//
// Product code never imports it.
package preflighttest

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"

	"github.com/cilium/ebpf/btf"
)

// Release is the fixture kernel's release.
const Release = "6.1.0-fixture-amd64"

func ptr(t btf.Type) btf.Type { return &btf.Pointer{Target: t} }

func fn(name string, ret btf.Type, params ...btf.FuncParam) *btf.Func {
	return &btf.Func{Name: name, Linkage: btf.GlobalFunc, Type: &btf.FuncProto{Return: ret, Params: params}}
}

func param(name string, t btf.Type) btf.FuncParam { return btf.FuncParam{Name: name, Type: t} }

func vmlinuxFuncs() []btf.Type {
	var (
		tLong  = &btf.Int{Name: "long int", Size: 8, Encoding: btf.Signed}
		tInt   = &btf.Int{Name: "int", Size: 4, Encoding: btf.Signed}
		tUint  = &btf.Int{Name: "unsigned int", Size: 4}
		tULong = &btf.Int{Name: "long unsigned int", Size: 8}
		tBool  = &btf.Int{Name: "_Bool", Size: 1, Encoding: btf.Bool}
		tChar  = &btf.Int{Name: "char", Size: 1, Encoding: btf.Char}
		tFile  = &btf.Struct{Name: "file", Size: 8, Members: []btf.Member{{Name: "f_flags", Type: tULong}}}
		tRegs  = &btf.Struct{Name: "pt_regs", Size: 8, Members: []btf.Member{{Name: "di", Type: tULong}}}
		tSock  = &btf.Struct{Name: "socket"}
		tSize  = &btf.Typedef{Name: "size_t", Type: tULong}
	)
	return []btf.Type{
		tLong, tInt, tUint, tULong, tBool, tChar,
		fn("af_alg_sendmsg", tInt, param("sock", ptr(tSock)), param("msg", ptr(&btf.Struct{Name: "msghdr"})), param("size", tSize)),
		fn("put_unused_fd", &btf.Void{}, param("fd", tUint)),
		fn("filp_open", ptr(tFile), param("filename", ptr(&btf.Const{Type: tChar})), param("flags", tInt)),
		fn("security_file_open", tInt, param("file", ptr(tFile))),
		fn("ns_capable", tBool, param("ns", ptr(&btf.Struct{Name: "user_namespace"})), param("cap", tInt)),
		fn("__sys_socket", tInt, param("family", tInt), param("type", tInt), param("protocol", tInt)),
		fn("__x64_sys_socket", tLong, param("regs", ptr(&btf.Const{Type: tRegs}))),
		fn("notify_die", tInt, param("val", tInt)),
		fn("inlined_fn", tInt),
		fn("kmalloc_trace", ptr(&btf.Void{}), param("size", tSize)),
		fn("get_order_u", tUint),
		fn("dup_fn", tInt),
		fn("struct_ret", tFile),
		fn("notrace_fn", tInt),
		fn("xfrm4_udp_encap_rcv", tInt),
		fn("strange_fn", tInt),
	}
}

// Kallsyms is /proc/kallsyms.
const Kallsyms = `ffffffff81000000 T _text
ffffffff81100000 T af_alg_sendmsg_helper
ffffffff81200000 T put_unused_fd
ffffffff81210000 T filp_open
ffffffff81220000 T security_file_open
ffffffff81230000 T ns_capable
ffffffff81240000 T __sys_socket
ffffffff81250000 T __x64_sys_socket
ffffffff81260000 T notify_die
ffffffff81270000 T kmalloc_trace
ffffffff81280000 T get_order_u
ffffffff81290000 t dup_fn
ffffffff812a0000 t dup_fn
ffffffff812b0000 T struct_ret
ffffffff812c0000 t cloned_fn.isra.0
ffffffff812c1000 t cloned_fn.cold
ffffffff812d0000 T notrace_fn
ffffffff812e0000 T xfrm4_udp_encap_rcv
ffffffff812e1000 t xfrm4_udp_encap_rcv.constprop.0
ffffffff812f0000 T strange_fn
ffffffff81300000 D put_unused_fd_data
ffffffffc0001000 t ks_test_vuln	[test_killswitch]
ffffffffc0002000 t ks_test_void	[test_killswitch]
ffffffffc0003000 t ks_test_ptr	[test_killswitch]
ffffffffc0004000 t ks_test_bool	[test_killswitch]
ffffffffc0005000 t ks_test_dup	[test_killswitch]
ffffffffc0006000 t ks_test_dup	[test_killswitch]
ffffffffc0010000 t ks_nobtf	[nobtf]
`

// FilterFunctions is available_filter_functions.
const FilterFunctions = `af_alg_sendmsg_helper
put_unused_fd
filp_open
security_file_open
ns_capable
__sys_socket
__x64_sys_socket
notify_die
kmalloc_trace
get_order_u
dup_fn
dup_fn
struct_ret
cloned_fn.isra.0
xfrm4_udp_encap_rcv
strange_fn
ks_test_vuln [test_killswitch]
ks_test_void [test_killswitch]
ks_test_ptr [test_killswitch]
ks_test_bool [test_killswitch]
ks_test_dup [test_killswitch]
ks_test_dup [test_killswitch]
ks_nobtf [nobtf]
`

// Config is /boot/config-<Release>.
const Config = `#
# Automatically generated file; DO NOT EDIT.
CONFIG_KPROBES=y
CONFIG_KPROBES_ON_FTRACE=y
CONFIG_SECURITYFS=y
CONFIG_FTRACE=y
CONFIG_FUNCTION_TRACER=y
CONFIG_DEBUG_INFO_BTF=y
CONFIG_MODULES=y
CONFIG_MODULE_SIG=y
CONFIG_BPF_SYSCALL=y
CONFIG_BPF_EVENTS=y
# CONFIG_FUNCTION_ERROR_INJECTION is not set
CONFIG_LOCALVERSION="-fixture"
`

// Write writes the fixture host under root, which stands for /.
func Write(root string) error {
	write := func(name string, data []byte) error {
		p := filepath.Join(root, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return err
		}
		return os.WriteFile(p, data, 0o644)
	}

	b, err := btf.NewBuilder(vmlinuxFuncs(), nil)
	if err != nil {
		return err
	}
	raw, err := b.Marshal(nil, nil)
	if err != nil {
		return err
	}
	base, err := btf.LoadSpecFromReader(bytes.NewReader(raw))
	if err != nil {
		return err
	}
	mod, err := splitBTF(base, raw, []splitFunc{
		{name: "ks_test_vuln", ret: "long int", params: []string{"long int"}},
		{name: "ks_test_void", ret: "void"},
		{name: "ks_test_ptr", ret: "void *"},
		{name: "ks_test_bool", ret: "_Bool"},
		{name: "ks_test_dup", ret: "long int"},
	})
	if err != nil {
		return err
	}

	for name, data := range map[string][]byte{
		"sys/kernel/btf/vmlinux":                        raw,
		"sys/kernel/btf/test_killswitch":                mod,
		"proc/sys/kernel/osrelease":                     []byte(Release + "\n"),
		"proc/kallsyms":                                 []byte(Kallsyms),
		"proc/uptime":                                   []byte("400.25 700.00\n"),
		"proc/self/mounts":                              []byte("securityfs /sys/kernel/security securityfs rw 0 0\nbpf /sys/fs/bpf bpf rw 0 0\n"),
		"boot/config-" + Release:                        []byte(Config),
		"sys/kernel/tracing/available_filter_functions": []byte(FilterFunctions),
		"sys/kernel/debug/kprobes/blacklist":            []byte("0xffffffff81260000-0xffffffff81260040\tnotify_die\n0xffffffff81000000-0xffffffff81001000\t[__kprobes_text]\n"),
		"sys/kernel/debug/kprobes/enabled":              []byte("1\n"),
		"sys/kernel/security/lockdown":                  []byte("[none] integrity confidentiality\n"),
		"lib/modules/" + Release + "/modules.symbols":   []byte("alias symbol:af_alg_sendmsg af_alg\nalias symbol:af_alg_accept af_alg\n"),
		"sys/module/killswitch/parameters/guard":        []byte("Y\n"),
	} {
		if err := write(name, data); err != nil {
			return err
		}
	}
	for _, m := range []string{"test_killswitch", "nobtf"} {
		if err := os.MkdirAll(filepath.Join(root, "sys/module", m), 0o755); err != nil {
			return err
		}
	}
	return nil
}

type splitFunc struct {
	name   string
	ret    string // a base type's name, "void" or "void *"
	params []string
}

// splitBTF encodes module BTF split on top of base, the way the kernel
// exposes /sys/kernel/btf/<module>: type IDs continue after the base's,
// string offsets after the base's string section. cilium/ebpf reads such
// BTF but has no writer for it.
func splitBTF(base *btf.Spec, baseRaw []byte, funcs []splitFunc) ([]byte, error) {
	var (
		types   bytes.Buffer
		strs    bytes.Buffer
		lastID  btf.TypeID
		strBase = binary.LittleEndian.Uint32(baseRaw[20:24])
	)
	for typ, err := range base.All() {
		if err != nil {
			return nil, err
		}
		id, _ := base.TypeID(typ)
		lastID = max(lastID, id)
	}
	u32 := func(vs ...uint32) {
		for _, v := range vs {
			_ = binary.Write(&types, binary.LittleEndian, v)
		}
	}
	str := func(s string) uint32 {
		off := strBase + uint32(strs.Len())
		strs.WriteString(s)
		strs.WriteByte(0)
		return off
	}
	var lookupErr error
	baseID := func(name string) uint32 {
		if name == "void" {
			return 0
		}
		typ, err := base.AnyTypeByName(name)
		if err != nil {
			lookupErr = fmt.Errorf("base type %q: %w", name, err)
			return 0
		}
		id, _ := base.TypeID(typ)
		return uint32(id)
	}
	const kindInt, kindPtr, kindFunc, kindProto = 1, 2, 12, 13
	next := func() uint32 { lastID++; return uint32(lastID) }

	voidPtr := next()
	u32(0, kindPtr<<24, 0)
	for _, f := range funcs {
		ret := voidPtr
		if f.ret != "void *" {
			ret = baseID(f.ret)
		}
		proto := next()
		u32(0, kindProto<<24|uint32(len(f.params)), ret)
		for i, p := range f.params {
			u32(str(string(rune('a'+i))), baseID(p))
		}
		next()
		u32(str(f.name), kindFunc<<24|uint32(btf.GlobalFunc), proto)
	}
	_ = kindInt
	if lookupErr != nil {
		return nil, lookupErr
	}

	hdr := new(bytes.Buffer)
	_ = binary.Write(hdr, binary.LittleEndian, struct {
		Magic                                    uint16
		Version, Flags                           uint8
		HdrLen, TypeOff, TypeLen, StrOff, StrLen uint32
	}{0xeb9f, 1, 0, 24, 0, uint32(types.Len()), uint32(types.Len()), uint32(strs.Len())})
	hdr.Write(types.Bytes())
	hdr.Write(strs.Bytes())
	return hdr.Bytes(), nil
}
