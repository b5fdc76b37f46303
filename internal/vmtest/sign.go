package vmtest

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
)

// signScript is `make sign`'s script; the harness signs with it too, so the
// Secure Boot boots test the same path operators use.
const signScript = "scripts/sign-modules"

// Where a signing kernel's initramfs holds the copies of killswitch.ko that
// the kernel must refuse: one unsigned, one signed with a key it does not
// trust (a MOK that was never enrolled).
const (
	unsignedModule  = "ks/unsigned/killswitch.ko"
	untrustedModule = "ks/untrusted/killswitch.ko"
)

// signModules copies kos into dir and signs the copies with k's key through
// scripts/sign-modules. It returns their paths, and the refused variants of
// killswitch.ko by their place in the initramfs. The originals (a build
// directory, prebuilt modules) are left as they are.
func signModules(ctx context.Context, env *Env, repo string, k *Kernel, kos []string, dir string) (signed []string, refused map[string][]byte, err error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, nil, fmt.Errorf("creating %s: %w", dir, err)
	}
	var unsigned []byte
	for _, ko := range kos {
		dst := filepath.Join(dir, filepath.Base(uncompressedPath(ko)))
		data, err := ReadModule(ko)
		if err != nil {
			return nil, nil, err
		}
		if ModuleName(ko) == "killswitch" {
			unsigned = data
		}
		if err := os.WriteFile(dst, data, 0o644); err != nil {
			return nil, nil, fmt.Errorf("copying %s for signing: %w", ko, err)
		}
		signed = append(signed, dst)
	}
	if unsigned == nil {
		return nil, nil, fmt.Errorf("%s signs modules, but no killswitch.ko was built for it", k.Label)
	}
	script := filepath.Join(repo, signScript)
	args := append([]string{"--kdir", k.KDIR, "--key", k.SigningKey, "--cert", k.SigningCert}, signed...)
	if err := run(ctx, env, "", script, args...); err != nil {
		return nil, nil, fmt.Errorf("signing the modules for %s: %w", k.Label, err)
	}

	// A key pair made for this run only, which no kernel trusts.
	otherDir := filepath.Join(dir, "untrusted")
	if err := os.MkdirAll(otherDir, 0o755); err != nil {
		return nil, nil, fmt.Errorf("creating %s: %w", otherDir, err)
	}
	key, cert, other := filepath.Join(otherDir, "key.pem"), filepath.Join(otherDir, "cert.pem"), filepath.Join(otherDir, "killswitch.ko")
	if err := run(ctx, env, "", "openssl", "req", "-new", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
		"-subj", "/CN=killswitch vmtest untrusted key/", "-keyout", key, "-out", cert); err != nil {
		return nil, nil, fmt.Errorf("making an untrusted signing key for %s: %w", k.Label, err)
	}
	if err := os.WriteFile(other, unsigned, 0o644); err != nil {
		return nil, nil, fmt.Errorf("writing %s: %w", other, err)
	}
	if err := run(ctx, env, "", script, "--kdir", k.KDIR, "--key", key, "--cert", cert, other); err != nil {
		return nil, nil, fmt.Errorf("signing killswitch.ko with an untrusted key for %s: %w", k.Label, err)
	}
	untrusted, err := os.ReadFile(other)
	if err != nil {
		return nil, nil, err
	}
	return signed, map[string][]byte{unsignedModule: unsigned, untrustedModule: untrusted}, nil
}
