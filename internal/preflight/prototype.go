package preflight

import (
	"errors"
	"fmt"
	"strings"

	"github.com/cilium/ebpf/btf"

	"github.com/killswitch/killswitch/internal/ksfs"
)

// findFuncs returns the BTF functions named name in spec.
func findFuncs(spec *btf.Spec, name string) ([]*btf.Func, error) {
	types, err := spec.AnyTypesByName(name)
	if errors.Is(err, btf.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var out []*btf.Func
	for _, t := range types {
		if fn, ok := t.(*btf.Func); ok {
			out = append(out, fn)
		}
	}
	return out, nil
}

// Prototype renders fn as a C declaration.
func Prototype(fn *btf.Func) string {
	proto, ok := fn.Type.(*btf.FuncProto)
	if !ok {
		return fn.Name + "(?)"
	}
	var params []string
	for _, p := range proto.Params {
		s := cType(p.Type)
		if p.Name != "" {
			s = joinDecl(s, p.Name)
		}
		params = append(params, s)
	}
	if len(params) == 0 {
		params = []string{"void"}
	}
	return joinDecl(cType(proto.Return), fn.Name) + "(" + strings.Join(params, ", ") + ")"
}

func joinDecl(typ, name string) string {
	if strings.HasSuffix(typ, "*") {
		return typ + name
	}
	return typ + " " + name
}

// cType names a BTF type the way a C declaration would, well enough to
// recognise a prototype.
func cType(t btf.Type) string {
	return cTypeDepth(t, 0)
}

func cTypeDepth(t btf.Type, depth int) string {
	if depth > 16 {
		return "..."
	}
	switch v := t.(type) {
	case nil, *btf.Void:
		return "void"
	case *btf.Int:
		return v.Name
	case *btf.Float:
		return v.Name
	case *btf.Typedef:
		return v.Name
	case *btf.Struct:
		return "struct " + v.Name
	case *btf.Union:
		return "union " + v.Name
	case *btf.Enum:
		return "enum " + v.Name
	case *btf.Fwd:
		return v.Kind.String() + " " + v.Name
	case *btf.Const:
		return "const " + cTypeDepth(v.Type, depth+1)
	case *btf.Volatile:
		return "volatile " + cTypeDepth(v.Type, depth+1)
	case *btf.Restrict:
		return cTypeDepth(v.Type, depth+1)
	case *btf.TypeTag:
		return cTypeDepth(v.Type, depth+1)
	case *btf.Pointer:
		if _, ok := v.Target.(*btf.FuncProto); ok {
			return "void (*)(...)"
		}
		inner := cTypeDepth(v.Target, depth+1)
		if strings.HasSuffix(inner, "*") {
			return inner + "*"
		}
		return inner + " *"
	case *btf.Array:
		return cTypeDepth(v.Type, depth+1) + fmt.Sprintf("[%d]", v.Nelems)
	default:
		return fmt.Sprintf("%v", t)
	}
}

// returnFindings judges retval against the return type of fn.
func returnFindings(sym string, fn *btf.Func, retval int64, force bool) []Finding {
	proto, ok := fn.Type.(*btf.FuncProto)
	if !ok {
		return nil
	}
	ret := btf.UnderlyingType(proto.Return)
	rv := ksfs.FormatRetval(retval)
	errno := retval < 0 && retval >= -ksfs.MaxErrno
	refuse := func(msg, fix string) Finding {
		if force {
			return Finding{Check: "retval", Verdict: Warn, Message: msg + "; going ahead because of --force"}
		}
		return Finding{Check: "retval", Verdict: Refuse, Message: msg, Fix: fix, Forceable: true}
	}

	switch t := ret.(type) {
	case nil, *btf.Void:
		return []Finding{refuse(
			sym+" returns void: there is no value to return, the override only skips its body and callers carry on as if it ran",
			"pass --force if skipping the body is what you want, or engage a caller that returns an error")}

	case *btf.Pointer:
		switch {
		case retval == 0:
			return []Finding{{Check: "retval", Verdict: Warn,
				Message: sym + " returns a pointer: 0 makes it return NULL, and callers that only check IS_ERR() will dereference it",
				Fix:     "read the callers, or use an errno to return ERR_PTR(-errno)"}}
		case errno:
			return []Finding{{Check: "retval", Verdict: Warn,
				Message: sym + " returns a pointer: " + rv + " makes it return ERR_PTR(" + fmt.Sprint(retval) + "), and callers that only check for NULL will dereference it",
				Fix:     "read the callers, or use 0 to return NULL"}}
		default:
			return []Finding{refuse(
				sym+" returns a pointer: "+rv+" is neither NULL nor an ERR_PTR errno, so callers would dereference a made-up address",
				"use 0 (NULL) or a negative errno such as -22 (EINVAL)")}
		}

	case *btf.Int:
		return intFindings(sym, cType(proto.Return), t.Encoding, t.Size, retval, refuse)

	case *btf.Enum:
		enc := btf.Unsigned
		if t.Signed {
			enc = btf.Signed
		}
		return intFindings(sym, cType(proto.Return), enc, t.Size, retval, refuse)

	case *btf.Struct, *btf.Union:
		return []Finding{{Check: "retval", Verdict: Refuse,
			Message: sym + " returns a " + cType(proto.Return) + " by value, which a register value cannot stand for",
			Fix:     "engage a caller, or a function it calls that returns an int"}}

	case *btf.Float:
		return []Finding{{Check: "retval", Verdict: Refuse,
			Message: sym + " returns a floating-point value, which the override cannot set",
			Fix:     "engage a caller instead"}}
	}
	return []Finding{{Check: "retval", Verdict: Warn,
		Message: fmt.Sprintf("%s returns %s, which pre-flight does not know how to judge", sym, cType(proto.Return)),
		Fix:     "check the value against the source"}}
}

func intFindings(sym, typ string, enc btf.IntEncoding, size uint32, retval int64, refuse func(msg, fix string) Finding) []Finding {
	rv := ksfs.FormatRetval(retval)
	if enc == btf.Bool {
		if retval != 0 && retval != 1 {
			return []Finding{refuse(sym+" returns bool: "+rv+" is neither false (0) nor true (1)", "use 0 or 1")}
		}
		return []Finding{{Check: "retval", Verdict: OK, Message: fmt.Sprintf("%s returns bool; it will return %t", sym, retval == 1)}}
	}

	bits := 8 * size
	signed := enc == btf.Signed
	if bits < 64 {
		// An unsigned type also takes negative values as their two's
		// complement: -22 in an unsigned int reads 4294967274.
		lo, hi := -(int64(1) << (bits - 1)), int64(1)<<(bits-1)-1
		if !signed {
			hi = int64(1)<<bits - 1
		}
		if retval < lo || retval > hi {
			return []Finding{refuse(fmt.Sprintf("%s returns %s (%d bits): %s does not fit, callers would see it truncated", sym, typ, bits, rv),
				fmt.Sprintf("use a value within %d..%d", lo, hi))}
		}
	}

	errno := retval < 0 && retval >= -ksfs.MaxErrno
	switch {
	case errno && !signed:
		return []Finding{{Check: "retval", Verdict: Warn,
			Message: fmt.Sprintf("%s returns %s, an unsigned type: callers see %s as a large positive number, not an error", sym, typ, rv),
			Fix:     "read the callers to learn what value means failure"}}
	case errno:
		return []Finding{{Check: "retval", Verdict: OK,
			Message: fmt.Sprintf("%s returns %s; callers will see the error %s", sym, typ, rv)}}
	case retval == 0:
		return []Finding{{Check: "retval", Verdict: Warn,
			Message: fmt.Sprintf("%s returns %s: 0 is not an errno and usually means success, so callers will carry on as if %s had done its work", sym, typ, sym),
			Fix:     "use a negative errno such as -1 (EPERM) to make callers fail, unless success without effect is the point"}}
	default:
		return []Finding{{Check: "retval", Verdict: Warn,
			Message: fmt.Sprintf("%s returns %s: %s is not an errno (-1..-%d)", sym, typ, rv, ksfs.MaxErrno),
			Fix:     "make sure callers read it the way you intend"}}
	}
}

// filterFindings judges argument filters against the prototype.
func filterFindings(sym string, fn *btf.Func, filters []ksfs.Filter, force bool) []Finding {
	proto, ok := fn.Type.(*btf.FuncProto)
	if !ok {
		return nil
	}
	var out []Finding
	for _, f := range filters {
		if f.Arg == 0 {
			continue
		}
		if f.Arg > len(proto.Params) {
			v := Refuse
			msg := fmt.Sprintf("filter %s: %s takes %d argument(s), so arg%d is whatever is left in a register", f, sym, len(proto.Params), f.Arg)
			if force {
				v, msg = Warn, msg+"; going ahead because of --force"
			}
			out = append(out, Finding{Check: "filter", Verdict: v, Message: msg,
				Fix: "count the arguments in " + Prototype(fn), Forceable: v == Refuse})
			continue
		}
		p := proto.Params[f.Arg-1]
		switch btf.UnderlyingType(p.Type).(type) {
		case *btf.Pointer:
			out = append(out, Finding{Check: "filter", Verdict: Warn,
				Message: fmt.Sprintf("filter %s: argument %d (%s) is a pointer; comparing addresses is rarely meaningful", f, f.Arg, joinDecl(cType(p.Type), p.Name)),
				Fix:     "filter on an integer argument, or on a function that receives the value itself"})
		case *btf.Struct, *btf.Union:
			out = append(out, Finding{Check: "filter", Verdict: Refuse,
				Message: fmt.Sprintf("filter %s: argument %d (%s) is a struct passed by value, not a register value", f, f.Arg, joinDecl(cType(p.Type), p.Name)),
				Fix:     "filter on another argument or function"})
		default:
			out = append(out, Finding{Check: "filter", Verdict: OK,
				Message: fmt.Sprintf("filter %s tests argument %d (%s)", f, f.Arg, joinDecl(cType(p.Type), p.Name))})
		}
	}
	return out
}
