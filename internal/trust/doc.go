// Package trust is killswitchd's node-side trust boundary: what a policy
// may ask of this node, decided by the node and never by the policy.
//
// Whoever can edit the fleet policy (a Kubernetes ConfigMap, a file pushed
// by configuration management) is not root on the node. A Level, set on
// the agent's command line, bounds what their policy can do:
//
//   - LevelCatalog (the default): only reviewed catalog entries, by CVE id,
//     with the catalog's own targets, values and filters; load: true loads
//     only the modules the entry names.
//   - LevelAllowlist: also symbol entries for the symbols (and retvals)
//     named in a root-owned allowlist file on the node, and loads of the
//     modules it names.
//   - LevelAny: whatever the policy says (the behaviour before levels
//     existed): an explicit opt-in the agent warns about.
//
// Rules.Check judges a parsed policy entry by entry; a refused entry is
// not applied, and the agent reports it (log, metric, readiness).
//
// Optionally a policy must be signed: a detached ed25519 signature over
// the exact bytes of the file, checked against public keys installed on
// the node (Keys, Verify). GenerateKey and Sign make them.
package trust
