package daemon

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/killswitch/killswitch/internal/policy"
	"github.com/killswitch/killswitch/internal/trust"
)

// Node-side trust files' usual places.
const (
	DefaultAllowlistPath = "/etc/killswitch/allowlist"
	DefaultKeysDir       = "/etc/killswitch/keys"
)

// trustFlags are the node's trust policy, given on the command line: the
// policy file can never set them.
type trustFlags struct {
	level     string
	allowlist string
	keys      string
}

func (f *trustFlags) add(fl *pflag.FlagSet) {
	fl.StringVar(&f.level, "trust", string(trust.LevelCatalog),
		"what the policy may ask of this node: catalog (reviewed CVE entries only), allowlist (also the symbols and modules in --trust-allowlist) or any (anything: whoever edits the policy is then root here)")
	fl.StringVar(&f.allowlist, "trust-allowlist", DefaultAllowlistPath,
		"with --trust=allowlist: the root-owned file naming the symbols (\"symbol <name> [<retval>...]\") and modules (\"module <name>\") a policy may use beyond the catalog")
	fl.StringVar(&f.keys, "trust-keys", "",
		"a root-owned directory of policy-signing public keys (*.pub, from killswitchd keygen): when set, only a policy with a valid detached signature (<policy>.sig) is applied")
}

// load reads the node's trust files. owner is rootfile.Root for the agent;
// validate, which only reports, passes rootfile.AnyOwner.
func (f *trustFlags) load(owner int) (trust.Rules, trust.Keys, error) {
	level, err := trust.ParseLevel(f.level)
	if err != nil {
		return trust.Rules{}, nil, fmt.Errorf("--trust: %w", err)
	}
	r := trust.Rules{Level: level}
	if level == trust.LevelAllowlist {
		if r.Allowlist, err = trust.LoadAllowlist(f.allowlist, owner); err != nil {
			return trust.Rules{}, nil, fmt.Errorf("--trust-allowlist: %w", err)
		}
	}
	var keys trust.Keys
	if f.keys != "" {
		if keys, err = trust.LoadKeys(f.keys, owner); err != nil {
			return trust.Rules{}, nil, fmt.Errorf("--trust-keys: %w", err)
		}
	}
	return r, keys, nil
}

func keygenCommand(stdout io.Writer) *cobra.Command {
	var dir, name string
	cmd := &cobra.Command{
		Use:   "keygen",
		Short: "Make a policy-signing key pair",
		Long: `Keygen writes <name>.key, the private key (mode 0600: keep it where
policies are reviewed and released, never on the nodes), and <name>.pub,
the public key to install in every node's --trust-keys directory (root's,
mode 0644 in a 0755 directory). It never overwrites a file.`,
		Example: `  killswitchd keygen --name fleet-2026 --dir .
  install -o root -m 0644 fleet-2026.pub /etc/killswitch/keys/`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			priv, pub, err := trust.GenerateKey(name, nil)
			if err != nil {
				return &exitError{ExitError, err}
			}
			privPath := filepath.Join(dir, name+".key")
			pubPath := filepath.Join(dir, name+trust.KeySuffix)
			if err := writeNew(privPath, priv, 0o600); err != nil {
				return &exitError{ExitError, err}
			}
			if err := writeNew(pubPath, pub, 0o644); err != nil {
				os.Remove(privPath)
				return &exitError{ExitError, err}
			}
			fmt.Fprintf(stdout, "private key: %s (keep it off the nodes)\npublic key:  %s (install it in each node's --trust-keys directory)\n", privPath, pubPath)
			return nil
		},
	}
	cmd.Flags().StringVar(&dir, "dir", ".", "where to write the two files")
	cmd.Flags().StringVar(&name, "name", "policy-signing", "the key's name: the files' base name, logged as signed_by")
	return cmd
}

func signCommand(stdout io.Writer) *cobra.Command {
	var key, out string
	cmd := &cobra.Command{
		Use:   "sign --key <name>.key <policy.yaml>",
		Short: "Sign a policy file for nodes that require signed policies",
		Long: `Sign writes a detached ed25519 signature over the exact bytes of the
policy file to <policy.yaml>.sig (or --output), after checking the file is a
valid policy. Ship the two together (in the ConfigMap, as policy.yaml and
policy.yaml.sig): any change to the policy, even a byte, needs a new
signature.`,
		Example: `  killswitchd sign --key fleet-2026.key policy.yaml
  kubectl -n killswitch create configmap killswitchd-policy --from-file=policy.yaml --from-file=policy.yaml.sig --dry-run=client -o yaml | kubectl apply -f -`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if key == "" {
				return &exitError{ExitError, errors.New("--key: name the private key file (from killswitchd keygen)")}
			}
			data, err := policy.ReadFile(args[0])
			if err != nil {
				return &exitError{ExitError, fmt.Errorf("sign: %w", err)}
			}
			if _, err := policy.Parse(data, defaultCatalog()); err != nil {
				return &exitError{ExitInvalid, fmt.Errorf("sign %s: not signed: %w", args[0], err)}
			}
			priv, err := os.ReadFile(key)
			if err != nil {
				return &exitError{ExitError, fmt.Errorf("sign: %w", err)}
			}
			sig, err := trust.Sign(priv, data)
			if err != nil {
				return &exitError{ExitError, fmt.Errorf("sign with %s: %w", key, err)}
			}
			if out == "" {
				out = args[0] + trust.SigSuffix
			}
			if err := os.WriteFile(out, sig, 0o644); err != nil {
				return &exitError{ExitError, fmt.Errorf("sign: %w", err)}
			}
			fmt.Fprintf(stdout, "signed %s: %s\n", args[0], out)
			return nil
		},
	}
	cmd.Flags().StringVar(&key, "key", "", "the private key file (from killswitchd keygen)")
	cmd.Flags().StringVarP(&out, "output", "o", "", "where to write the signature (default <policy>.sig)")
	return cmd
}

// writeNew writes a file that must not exist yet.
func writeNew(path string, data []byte, mode os.FileMode) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, mode)
	if errors.Is(err, fs.ErrExist) {
		return fmt.Errorf("%s exists: not overwritten (pick another --name or --dir)", path)
	}
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
