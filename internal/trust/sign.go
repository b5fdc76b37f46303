package trust

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"syscall"

	"github.com/killswitch/killswitch/internal/rootfile"
)

// File formats: one line each, a word saying what it is, then base64.
const (
	pubTag  = "killswitch-ed25519"
	privTag = "killswitch-ed25519-private"
	// SigSuffix is added to the policy file's name for its signature.
	SigSuffix = ".sig"
	// KeySuffix marks the public keys in a key directory.
	KeySuffix = ".pub"
)

// Key is a public key the node trusts to sign its policy.
type Key struct {
	// Name is the key file's name, logged with each verified policy.
	Name string
	Pub  ed25519.PublicKey
}

// Keys are the node's policy-signing keys; none means policies need no
// signature.
type Keys []Key

// ErrUnsigned is wrapped by Verify's error when there is no signature.
var ErrUnsigned = errors.New("the policy is not signed")

// GenerateKey makes a key pair and returns both files' contents: the
// private key (keep it off the nodes) and the public key (install it in
// every node's key directory).
func GenerateKey(comment string, r io.Reader) (priv, pub []byte, err error) {
	if r == nil {
		r = rand.Reader
	}
	pk, sk, err := ed25519.GenerateKey(r)
	if err != nil {
		return nil, nil, fmt.Errorf("generate key: %w", err)
	}
	c := ""
	if comment = strings.Join(strings.Fields(comment), "_"); comment != "" {
		c = " " + comment
	}
	priv = []byte(privTag + " " + base64.StdEncoding.EncodeToString(sk.Seed()) + c + "\n")
	pub = []byte(pubTag + " " + base64.StdEncoding.EncodeToString(pk) + c + "\n")
	return priv, pub, nil
}

// Sign signs the exact bytes of a policy with a private key file's
// contents and returns the signature file's contents.
func Sign(privFile, policy []byte) ([]byte, error) {
	seed, err := decode(privFile, privTag, ed25519.SeedSize)
	if err != nil {
		return nil, fmt.Errorf("private key: %w", err)
	}
	sig := ed25519.Sign(ed25519.NewKeyFromSeed(seed), policy)
	return []byte(base64.StdEncoding.EncodeToString(sig) + "\n"), nil
}

// ParsePublicKey reads a public key file's contents.
func ParsePublicKey(name string, data []byte) (Key, error) {
	b, err := decode(data, pubTag, ed25519.PublicKeySize)
	if err != nil {
		return Key{}, fmt.Errorf("public key %s: %w", name, err)
	}
	return Key{Name: name, Pub: ed25519.PublicKey(b)}, nil
}

func decode(data []byte, tag string, size int) ([]byte, error) {
	f := strings.Fields(string(data))
	if len(f) < 2 || f[0] != tag {
		return nil, fmt.Errorf("not a %s file (it starts with %q followed by base64; make one with killswitchd keygen)", tag, tag)
	}
	b, err := base64.StdEncoding.DecodeString(f[1])
	if err != nil || len(b) != size {
		return nil, fmt.Errorf("the %s value is not %d bytes of base64", tag, size)
	}
	return b, nil
}

// Verify checks sig (a signature file's contents; nil when there is none)
// over the exact bytes of data against every key, and returns the name of
// the key that signed it.
func (ks Keys) Verify(data, sig []byte) (string, error) {
	if len(ks) == 0 {
		return "", errors.New("no policy-signing keys are installed")
	}
	if sig == nil {
		return "", fmt.Errorf("%w: this node requires a signature by one of its %d key(s) (sign it with killswitchd sign and ship the .sig beside it)", ErrUnsigned, len(ks))
	}
	raw, err := base64.StdEncoding.DecodeString(strings.TrimSpace(string(sig)))
	if err != nil || len(raw) != ed25519.SignatureSize {
		return "", fmt.Errorf("the signature is not %d bytes of base64: refused (sign the policy again with killswitchd sign)", ed25519.SignatureSize)
	}
	for _, k := range ks {
		if ed25519.Verify(k.Pub, data, raw) {
			return k.Name, nil
		}
	}
	return "", fmt.Errorf("the signature does not match the policy under any of this node's %d key(s) (%s): refused (the policy changed after it was signed, or was signed with a key this node does not trust: sign the exact file again)",
		len(ks), ks.names())
}

func (ks Keys) names() string {
	var n []string
	for _, k := range ks {
		n = append(n, k.Name)
	}
	return strings.Join(n, ", ")
}

// LoadKeys reads the public keys (*.pub) in dir: the directory and each
// key must be owner's (rootfile.Root for the agent) and writable by no one
// else, since whoever can add a key can sign policies.
func LoadKeys(dir string, owner int) (Keys, error) {
	fi, err := os.Lstat(dir)
	if err != nil {
		return nil, fmt.Errorf("policy-signing keys: %w", err)
	}
	if !fi.IsDir() {
		return nil, fmt.Errorf("policy-signing keys %s: not a directory (pass the directory holding the .pub files)", dir)
	}
	if st, ok := fi.Sys().(*syscall.Stat_t); owner != rootfile.AnyOwner && (!ok || int(st.Uid) != owner || fi.Mode().Perm()&0o022 != 0) {
		return nil, fmt.Errorf("policy-signing keys %s: the directory must be root's and writable by no one else, since whoever adds a key can sign policies (chown root %s; chmod go-w %s)", dir, dir, dir)
	}
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("policy-signing keys: %w", err)
	}
	var ks Keys
	for _, e := range ents {
		if !strings.HasSuffix(e.Name(), KeySuffix) {
			continue
		}
		path := filepath.Join(dir, e.Name())
		f, err := rootfile.Open("policy-signing key", path, owner)
		if err != nil {
			return nil, err
		}
		var buf bytes.Buffer
		_, err = buf.ReadFrom(&limited{r: f, n: 4096})
		f.Close()
		if err != nil {
			return nil, fmt.Errorf("policy-signing key %s: %w", path, err)
		}
		k, err := ParsePublicKey(e.Name(), buf.Bytes())
		if err != nil {
			return nil, err
		}
		ks = append(ks, k)
	}
	if len(ks) == 0 {
		return nil, fmt.Errorf("policy-signing keys %s: no *%s file: install a public key made by killswitchd keygen, or drop --trust-keys to accept unsigned policies", dir, KeySuffix)
	}
	sort.Slice(ks, func(i, j int) bool { return ks[i].Name < ks[j].Name })
	return ks, nil
}

// ReadSignature reads the signature of the policy at path (path + SigSuffix):
// nil, nil when there is none.
func ReadSignature(policyPath string) ([]byte, error) {
	f, err := os.Open(policyPath + SigSuffix)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read policy signature: %w", err)
	}
	defer f.Close()
	var buf bytes.Buffer
	if _, err := buf.ReadFrom(&limited{r: f, n: 4096}); err != nil {
		return nil, fmt.Errorf("read policy signature %s: %w", f.Name(), err)
	}
	return buf.Bytes(), nil
}
