package daemon

import "github.com/killswitch/killswitch/internal/policy"

// defaultCatalog is the CVE catalog built into killswitchd.
func defaultCatalog() policy.Catalog {
	return policy.NoCatalog{}
}
