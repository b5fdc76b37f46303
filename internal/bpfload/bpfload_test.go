package bpfload

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
)

func TestParseArgs(t *testing.T) {
	tests := []struct {
		name    string
		args    []string
		want    Request
		wantErr string
	}{
		{"ok", []string{"/x/o.bpf.o", "tc_modify_qdisc"}, Request{Object: "/x/o.bpf.o", Symbol: "tc_modify_qdisc"}, ""},
		{"gcc clone", []string{"o.o", "udp_send_skb.isra.0"}, Request{Object: "o.o", Symbol: "udp_send_skb.isra.0"}, ""},
		{"no args", nil, Request{}, "usage"},
		{"one arg", []string{"o.o"}, Request{}, "usage"},
		{"three args", []string{"o.o", "f", "x"}, Request{}, "usage"},
		{"empty object", []string{"", "f"}, Request{}, "empty object"},
		{"empty function", []string{"o.o", ""}, Request{}, "empty function"},
		{"path escape", []string{"o.o", "../../etc"}, Request{}, "not allowed"},
		{"slash", []string{"o.o", "a/b"}, Request{}, "not allowed"},
		{"leading digit", []string{"o.o", "1abc"}, Request{}, "not allowed"},
		{"leading dot", []string{"o.o", ".hidden"}, Request{}, "not allowed"},
		{"space", []string{"o.o", "a b"}, Request{}, "not allowed"},
		{"too long", []string{"o.o", strings.Repeat("a", maxSymbolLen+1)}, Request{}, "longer"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseArgs(tt.args)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("ParseArgs(%q) error = %v, want one containing %q", tt.args, err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseArgs(%q): %v", tt.args, err)
			}
			if got != tt.want {
				t.Fatalf("ParseArgs(%q) = %+v, want %+v", tt.args, got, tt.want)
			}
		})
	}
}

// FuzzParseArgs checks the property that matters for safety: an accepted
// function name is a single path element inside the pin directory.
func FuzzParseArgs(f *testing.F) {
	for _, s := range []string{"tc_modify_qdisc", "a.isra.0", "../x", "a/b", "", "\x00", "é"} {
		f.Add("o.bpf.o", s)
	}
	f.Fuzz(func(t *testing.T, obj, sym string) {
		req, err := ParseArgs([]string{obj, sym})
		if err != nil {
			return
		}
		pin := filepath.Join(DefaultPinDir, req.Symbol)
		if filepath.Dir(pin) != DefaultPinDir || filepath.Base(pin) != sym {
			t.Fatalf("accepted %q escapes the pin directory: %s", sym, pin)
		}
	})
}

func prog(typ ebpf.ProgramType, section string, attach ebpf.AttachType) *ebpf.ProgramSpec {
	return &ebpf.ProgramSpec{
		Type:        typ,
		SectionName: section,
		AttachType:  attach,
		License:     "GPL",
		Instructions: asm.Instructions{
			asm.LoadImm(asm.R0, 0, asm.DWord),
			asm.Return(),
		},
	}
}

func TestSelectKprobe(t *testing.T) {
	tests := []struct {
		name    string
		progs   map[string]*ebpf.ProgramSpec
		want    string
		wantErr []string
	}{
		{
			name:  "one kprobe",
			progs: map[string]*ebpf.ProgramSpec{"mitigate": prog(ebpf.Kprobe, "kprobe/tc_modify_qdisc", ebpf.AttachNone)},
			want:  "mitigate",
		},
		{
			name:  "bare section",
			progs: map[string]*ebpf.ProgramSpec{"p": prog(ebpf.Kprobe, "kprobe", ebpf.AttachNone)},
			want:  "p",
		},
		{
			name: "kprobe next to other types",
			progs: map[string]*ebpf.ProgramSpec{
				"k":  prog(ebpf.Kprobe, "kprobe/f", ebpf.AttachNone),
				"xd": prog(ebpf.XDP, "xdp", ebpf.AttachNone),
			},
			want: "k",
		},
		{
			name: "two kprobes",
			progs: map[string]*ebpf.ProgramSpec{
				"b": prog(ebpf.Kprobe, "kprobe/f", ebpf.AttachNone),
				"a": prog(ebpf.Kprobe, "kprobe/g", ebpf.AttachNone),
			},
			wantErr: []string{"2 kprobe programs", "a, b"},
		},
		{
			name:    "kretprobe only",
			progs:   map[string]*ebpf.ProgramSpec{"r": prog(ebpf.Kprobe, "kretprobe/f", ebpf.AttachNone)},
			wantErr: []string{"no kprobe program", "r (Kprobe, section kretprobe/f)"},
		},
		{
			name:    "multi kprobe",
			progs:   map[string]*ebpf.ProgramSpec{"m": prog(ebpf.Kprobe, "kprobe.multi/f*", ebpf.AttachTraceKprobeMulti)},
			wantErr: []string{"no kprobe program", "m ("},
		},
		{
			name:    "empty",
			progs:   map[string]*ebpf.ProgramSpec{},
			wantErr: []string{"no programs"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := SelectKprobe(&ebpf.CollectionSpec{Programs: tt.progs})
			if tt.wantErr != nil {
				if err == nil {
					t.Fatalf("SelectKprobe = %q, want an error", got)
				}
				for _, w := range tt.wantErr {
					if !strings.Contains(err.Error(), w) {
						t.Errorf("error %q does not contain %q", err, w)
					}
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("SelectKprobe = %q, %v; want %q", got, err, tt.want)
			}
		})
	}
}

type fakeSystem struct {
	symbols  map[string]bool
	mounted  bool
	mountErr error
}

func (f *fakeSystem) SymbolExists(name string) (bool, error) { return f.symbols[name], nil }

func (f *fakeSystem) EnsureBPFFS(dir string) error {
	if f.mountErr != nil {
		return f.mountErr
	}
	f.mounted = true
	return os.MkdirAll(dir, 0o700)
}

// TestLoadSpecRefusals covers the refusals that happen before anything is
// loaded into the kernel, so they run without root.
func TestLoadSpecRefusals(t *testing.T) {
	one := &ebpf.CollectionSpec{Programs: map[string]*ebpf.ProgramSpec{"p": prog(ebpf.Kprobe, "kprobe/f", ebpf.AttachNone)}}
	dir := filepath.Join(t.TempDir(), "killswitch")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "pinned_fn"), nil, 0o600); err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name      string
		spec      *ebpf.CollectionSpec
		sym       string
		sys       *fakeSystem
		wantErr   string
		wantMount bool
	}{
		{"bad name", one, "a/b", &fakeSystem{}, "not allowed", false},
		{"no kprobe", &ebpf.CollectionSpec{}, "f", &fakeSystem{symbols: map[string]bool{"f": true}}, "no programs", false},
		{"unknown function", one, "nope", &fakeSystem{}, "unknown function nope", false},
		{"bpffs fails", one, "f", &fakeSystem{symbols: map[string]bool{"f": true}, mountErr: errors.New("mount bpffs: EPERM")}, "mount bpffs", false},
		{"already pinned", one, "pinned_fn", &fakeSystem{symbols: map[string]bool{"pinned_fn": true}}, "already engaged", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := LoadSpec(tt.sys, tt.spec, Request{Object: "test.o", Symbol: tt.sym, PinDir: dir})
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("LoadSpec error = %v, want one containing %q", err, tt.wantErr)
			}
			if tt.sys.mounted != tt.wantMount {
				t.Errorf("EnsureBPFFS called = %v, want %v", tt.sys.mounted, tt.wantMount)
			}
		})
	}
	// The existing pin must be left as it was.
	if fi, err := os.Stat(filepath.Join(dir, "pinned_fn")); err != nil || fi.Size() != 0 {
		t.Fatalf("existing pin changed: %v", err)
	}
}

func TestLoadMissingObject(t *testing.T) {
	_, err := Load(&fakeSystem{}, Request{Object: filepath.Join(t.TempDir(), "missing.bpf.o"), Symbol: "f"})
	if err == nil || !strings.Contains(err.Error(), "read BPF object") || !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("Load error = %v, want a wrapped not-exist error", err)
	}
}

func TestScanKallsyms(t *testing.T) {
	path := filepath.Join(t.TempDir(), "kallsyms")
	data := "ffffffff81000000 T _stext\n" +
		"ffffffff81234560 t tc_modify_qdisc\n" +
		"ffffffff81234570 D some_data\n" +
		"ffffffffc0001000 t af_alg_sendmsg\t[af_alg]\n"
	if err := os.WriteFile(path, []byte(data), 0o600); err != nil {
		t.Fatal(err)
	}
	h := Host{Kallsyms: path}
	for sym, want := range map[string]bool{
		"tc_modify_qdisc": true,
		"af_alg_sendmsg":  true,
		"some_data":       false, // not a function
		"tc_modify":       false,
		"missing":         false,
	} {
		got, err := h.SymbolExists(sym)
		if err != nil || got != want {
			t.Errorf("SymbolExists(%q) = %v, %v; want %v", sym, got, err, want)
		}
	}
}

// ks-bpf-load runs as root while the gate is open: it loads only a file
// root put in place (rootfile.Open checks the rest).
func TestLoadRefusesUntrustedObject(t *testing.T) {
	dir := t.TempDir()
	obj := filepath.Join(dir, "x.bpf.o")
	if err := os.WriteFile(obj, []byte("\x7fELF"), 0o666); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(obj, 0o666); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(dir, "link.bpf.o")
	if err := os.Symlink(obj, link); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ path, want string }{
		{obj, "chmod go-w"},
		{link, "symbolic link"},
		{"x.bpf.o", "not an absolute path"},
	} {
		_, err := Load(&fakeSystem{}, Request{Object: tc.path, Symbol: "f"})
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Load(%s) = %v, want %q", tc.path, err, tc.want)
		}
	}
}
