// This file owns the load-attach-pin sequence and the choice of program.

package bpfload

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"
	"github.com/cilium/ebpf/rlimit"

	"github.com/killswitch/killswitch/internal/rootfile"
)

// DefaultPinDir is where engagements are pinned, one link per function.
const DefaultPinDir = "/sys/fs/bpf/killswitch"

// verifierTail is how many lines of a verifier log are worth showing: the
// reason is at the end, the rest is a trace of the instructions.
const verifierTail = 20

// maxSymbolLen is KSYM_NAME_LEN in Linux 6.1+.
const maxSymbolLen = 512

// Request says what to load and where to attach it.
type Request struct {
	Object string // path to the BPF ELF object
	Symbol string // kernel function to attach to, at offset 0
	PinDir string // directory of the pins; DefaultPinDir if empty
}

// Result describes a successful engagement.
type Result struct {
	Program string // name of the program that was attached
	Pin     string // path of the pinned link
}

// ParseArgs turns the helper's command-line arguments (without argv[0])
// into a Request.
func ParseArgs(args []string) (Request, error) {
	if len(args) != 2 {
		return Request{}, fmt.Errorf("usage: ks-bpf-load <bpf.o> <function> (got %d arguments)", len(args))
	}
	req := Request{Object: args[0], Symbol: args[1]}
	if req.Object == "" {
		return Request{}, errors.New("empty object path")
	}
	if err := ValidSymbol(req.Symbol); err != nil {
		return Request{}, err
	}
	return req, nil
}

// ValidSymbol checks that name can be a kernel function name. The name
// becomes a file name under the pin directory, so this is also what keeps
// it from escaping that directory.
func ValidSymbol(name string) error {
	if name == "" {
		return errors.New("empty function name")
	}
	if len(name) > maxSymbolLen {
		return fmt.Errorf("function name is %d bytes, longer than the kernel's limit of %d", len(name), maxSymbolLen)
	}
	for i, c := range []byte(name) {
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c == '_':
		case i > 0 && (c >= '0' && c <= '9' || c == '.'):
		default:
			return fmt.Errorf("function name %q: character %q at offset %d is not allowed in a kernel symbol", name, c, i)
		}
	}
	return nil
}

// SelectKprobe returns the name of the one kprobe program in spec. Kretprobe
// and multi-kprobe programs do not count: bpf_override_return only works
// from an entry probe on a single function. Any other count is an error
// that names the programs found, so the author can see what the ELF holds.
func SelectKprobe(spec *ebpf.CollectionSpec) (string, error) {
	var kprobes, others []string
	for name, p := range spec.Programs {
		if isEntryKprobe(p) {
			kprobes = append(kprobes, name)
		} else {
			others = append(others, fmt.Sprintf("%s (%s, section %s)", name, p.Type, p.SectionName))
		}
	}
	sort.Strings(kprobes)
	sort.Strings(others)
	switch {
	case len(kprobes) == 1:
		return kprobes[0], nil
	case len(kprobes) > 1:
		return "", fmt.Errorf("found %d kprobe programs (%s), need exactly one", len(kprobes), strings.Join(kprobes, ", "))
	case len(others) > 0:
		return "", fmt.Errorf("no kprobe program (SEC(\"kprobe/...\")), found: %s", strings.Join(others, "; "))
	default:
		return "", errors.New("no programs in object")
	}
}

func isEntryKprobe(p *ebpf.ProgramSpec) bool {
	return p.Type == ebpf.Kprobe &&
		p.AttachType == ebpf.AttachNone &&
		(p.SectionName == "kprobe" || strings.HasPrefix(p.SectionName, "kprobe/"))
}

// System is what Load needs from the machine, so tests can replace it.
type System interface {
	// SymbolExists reports whether name is a kernel function (kallsyms).
	SymbolExists(name string) (bool, error)
	// EnsureBPFFS makes sure a bpf filesystem is mounted at the root of
	// dir's hierarchy (/sys/fs/bpf) and that dir exists.
	EnsureBPFFS(dir string) error
}

// Load loads the kprobe program of req.Object (a file only root may have
// written: see rootfile.Open), attaches it to req.Symbol and
// pins the link. Nothing is left behind on failure: no pin, no attachment.
func Load(sys System, req Request) (Result, error) {
	f, err := rootfile.Open("BPF object", req.Object, rootfile.Root)
	if err != nil {
		return Result{}, fmt.Errorf("read BPF object %s: %w", req.Object, err)
	}
	defer f.Close()
	spec, err := ebpf.LoadCollectionSpecFromReader(f)
	if err != nil {
		return Result{}, fmt.Errorf("read BPF object %s: %w", req.Object, err)
	}
	return LoadSpec(sys, spec, req)
}

// LoadSpec is Load for an object already parsed into spec; req.Object only
// names it in messages.
func LoadSpec(sys System, spec *ebpf.CollectionSpec, req Request) (Result, error) {
	if err := ValidSymbol(req.Symbol); err != nil {
		return Result{}, err
	}
	dir := req.PinDir
	if dir == "" {
		dir = DefaultPinDir
	}
	pin := filepath.Join(dir, req.Symbol)

	name, err := SelectKprobe(spec)
	if err != nil {
		return Result{}, fmt.Errorf("BPF object %s: %w", req.Object, err)
	}

	ok, err := sys.SymbolExists(req.Symbol)
	if err != nil {
		return Result{}, fmt.Errorf("look up %s: %w", req.Symbol, err)
	}
	if !ok {
		return Result{}, fmt.Errorf("unknown function %s: not in /proc/kallsyms (is its module loaded?)", req.Symbol)
	}

	if err := sys.EnsureBPFFS(dir); err != nil {
		return Result{}, err
	}
	if _, err := os.Lstat(pin); err == nil {
		return Result{}, fmt.Errorf("%s is already engaged: %s exists (remove that pin to disengage it first)", req.Symbol, pin)
	} else if !errors.Is(err, fs.ErrNotExist) {
		return Result{}, fmt.Errorf("check pin %s: %w", pin, err)
	}

	// Kernels before 5.11 charge BPF memory to RLIMIT_MEMLOCK; this is a
	// no-op where memory cgroup accounting is used instead.
	if err := rlimit.RemoveMemlock(); err != nil {
		return Result{}, fmt.Errorf("raise RLIMIT_MEMLOCK for BPF maps: %w", err)
	}

	// Load only the chosen program, so a helper program in the same object
	// that does not verify cannot block the mitigation.
	one := spec.Copy()
	for n := range one.Programs {
		if n != name {
			delete(one.Programs, n)
		}
	}
	coll, err := ebpf.NewCollection(one)
	if err != nil {
		return Result{}, fmt.Errorf("load program %s: %w", name, err)
	}
	defer coll.Close()

	lnk, err := link.Kprobe(req.Symbol, coll.Programs[name], nil)
	if err != nil {
		return Result{}, fmt.Errorf("attach program %s to %s: %w%s", name, req.Symbol, err, attachHint(err))
	}
	// Closing our handle after pinning leaves the pin as the only
	// reference: the engagement lives exactly as long as the pin.
	defer lnk.Close()
	if err := lnk.Pin(pin); err != nil {
		return Result{}, fmt.Errorf("pin link of %s at %s: %w", req.Symbol, pin, err)
	}
	return Result{Program: name, Pin: pin}, nil
}

// VerifierTail returns the last lines of the verifier log carried by err,
// or "" if err is not a verifier rejection. Error() holds only the last
// line; the lines before it usually show which instruction was refused.
func VerifierTail(err error) string {
	var ve *ebpf.VerifierError
	if !errors.As(err, &ve) {
		return ""
	}
	return fmt.Sprintf("%-*v", verifierTail, ve)
}

// attachHint explains the usual cause of EINVAL from the attach: the kernel
// refuses a program that calls bpf_override_return on a function that is
// not on the error-injection list unless killswitch's gate is open.
func attachHint(err error) string {
	if errors.Is(err, os.ErrInvalid) || strings.Contains(err.Error(), "invalid argument") {
		return " (a program calling bpf_override_return attaches only to functions on the error-injection list, or through killswitch's engagebpf, on kernels with CONFIG_BPF_KPROBE_OVERRIDE)"
	}
	return ""
}
