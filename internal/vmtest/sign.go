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

// unsignedModule is where a signing kernel's initramfs holds an unsigned
// killswitch.ko, for the suite that proves the kernel refuses it.
const unsignedModule = "ks/unsigned/killswitch.ko"

// signModules copies kos into dir, signs the copies with k's key through
// scripts/sign-modules and returns their paths, plus the unsigned content
// of killswitch.ko. The originals (a build directory, prebuilt modules)
// are left as they are.
func signModules(ctx context.Context, env *Env, repo string, k *Kernel, kos []string, dir string) (signed []string, unsigned []byte, err error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, nil, fmt.Errorf("creating %s: %w", dir, err)
	}
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
	args := append([]string{"--kdir", k.KDIR, "--key", k.SigningKey, "--cert", k.SigningCert}, signed...)
	if err := run(ctx, env, "", filepath.Join(repo, signScript), args...); err != nil {
		return nil, nil, fmt.Errorf("signing the modules for %s: %w", k.Label, err)
	}
	return signed, unsigned, nil
}
