package trust

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestSignVerify(t *testing.T) {
	priv, pub, err := GenerateKey("fleet 2026", nil)
	if err != nil {
		t.Fatal(err)
	}
	_, otherPub, _ := GenerateKey("", nil)
	key, err := ParsePublicKey("fleet.pub", pub)
	if err != nil {
		t.Fatal(err)
	}
	other, _ := ParsePublicKey("other.pub", otherPub)
	pol := []byte("apiVersion: killswitch/v1\nkind: Policy\nversion: \"1\"\nentries: []\n")
	sig, err := Sign(priv, pol)
	if err != nil {
		t.Fatal(err)
	}
	tampered := append([]byte(nil), pol...)
	tampered[len(tampered)-3] = '{'
	for _, tc := range []struct {
		name      string
		keys      Keys
		data, sig []byte
		want      string // key name, or the error
	}{
		{"signed", Keys{key}, pol, sig, "fleet.pub"},
		{"one of several keys", Keys{other, key}, pol, sig, "fleet.pub"},
		{"unsigned", Keys{key}, pol, nil, "not signed"},
		{"tampered", Keys{key}, tampered, sig, "does not match"},
		{"a byte more", Keys{key}, append(pol, '\n'), sig, "does not match"},
		{"other key", Keys{other}, pol, sig, "does not match"},
		{"garbage signature", Keys{key}, pol, []byte("not base64!"), "not 64 bytes"},
		{"empty signature", Keys{key}, pol, []byte{}, "not 64 bytes"},
		{"no keys", nil, pol, sig, "no policy-signing keys"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			name, err := tc.keys.Verify(tc.data, tc.sig)
			switch {
			case strings.HasSuffix(tc.want, ".pub"):
				if err != nil || name != tc.want {
					t.Fatalf("Verify = %q, %v, want %s", name, err, tc.want)
				}
			case err == nil || !strings.Contains(err.Error(), tc.want):
				t.Fatalf("Verify = %q, %v, want an error with %q", name, err, tc.want)
			}
		})
	}
	if _, err := (Keys{key}).Verify(pol, nil); !errors.Is(err, ErrUnsigned) {
		t.Errorf("unsigned: %v does not wrap ErrUnsigned", err)
	}
	if _, err := Sign(pub, pol); err == nil {
		t.Error("Sign accepted a public key")
	}
}

func TestLoadKeys(t *testing.T) {
	me := os.Getuid()
	_, pub, _ := GenerateKey("", nil)
	good := t.TempDir()
	os.Chmod(good, 0o755)
	os.WriteFile(filepath.Join(good, "a.pub"), pub, 0o644)
	os.WriteFile(filepath.Join(good, "README"), []byte("not a key"), 0o644)
	empty := t.TempDir()
	os.Chmod(empty, 0o755)
	loose := t.TempDir()
	os.Chmod(loose, 0o777)
	os.WriteFile(filepath.Join(loose, "a.pub"), pub, 0o644)
	looseKey := t.TempDir()
	os.Chmod(looseKey, 0o755)
	os.WriteFile(filepath.Join(looseKey, "a.pub"), pub, 0o644)
	os.Chmod(filepath.Join(looseKey, "a.pub"), 0o666)
	badKey := t.TempDir()
	os.Chmod(badKey, 0o755)
	os.WriteFile(filepath.Join(badKey, "a.pub"), []byte("ssh-ed25519 AAAA"), 0o644)
	for _, tc := range []struct {
		dir  string
		want string
	}{
		{good, ""},
		{empty, "no *.pub file"},
		{loose, "chmod go-w"},
		{looseKey, "chmod go-w"},
		{badKey, "not a killswitch-ed25519 file"},
		{filepath.Join(good, "a.pub"), "not a directory"},
	} {
		ks, err := LoadKeys(tc.dir, me)
		if tc.want == "" {
			if err != nil || len(ks) != 1 || ks[0].Name != "a.pub" {
				t.Errorf("LoadKeys(%s) = %v, %v", tc.dir, ks, err)
			}
			continue
		}
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("LoadKeys(%s) = %v, want %q", tc.dir, err, tc.want)
		}
	}
}
