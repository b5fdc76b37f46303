package catalog

import (
	"bytes"
	"fmt"
	"sort"
	"strings"
)

// AllowlistHeader renders kernel/ks_allowlist.h: every (symbol, retval)
// pair that an engage or tryengage entry of the catalog applies, without
// caller filters. Under lockdown the module's engage= parameter accepts
// only these (see kernel/ks_modparam.c): they are reviewed, fail closed
// and none of them touches the integrity machinery, so root under
// lockdown, who is not trusted, gains nothing it could not do by leaving
// a mitigation out. TestAllowlistHeaderFresh keeps the file in step;
// regenerate with KS_UPDATE_ALLOWLIST=1 go test ./internal/catalog.
func (c *Catalog) AllowlistHeader() []byte {
	type pair struct {
		sym    string
		retval int64
		cves   []string
	}
	seen := map[string]*pair{}
	for _, e := range c.entries {
		if (e.Verb != VerbEngage && e.Verb != VerbTryEngage) || e.Filter != "" {
			continue
		}
		for _, t := range e.Targets {
			for _, name := range t.Names() {
				key := fmt.Sprintf("%s=%d", name, t.Retval)
				if p, ok := seen[key]; ok {
					p.cves = append(p.cves, e.ID)
					continue
				}
				seen[key] = &pair{sym: name, retval: t.Retval, cves: []string{e.ID}}
			}
		}
	}
	pairs := make([]*pair, 0, len(seen))
	for _, p := range seen {
		pairs = append(pairs, p)
	}
	sort.Slice(pairs, func(i, j int) bool {
		if pairs[i].sym != pairs[j].sym {
			return pairs[i].sym < pairs[j].sym
		}
		return pairs[i].retval < pairs[j].retval
	})
	var b bytes.Buffer
	b.WriteString(`/* SPDX-License-Identifier: GPL-2.0 */
/*
 * killswitch: what engage= may engage while the kernel is locked down.
 * Generated from internal/catalog/mitigations.yaml by
 * internal/catalog/allowlist.go: do not edit; regenerate with
 * KS_UPDATE_ALLOWLIST=1 go test ./internal/catalog.
 */
#ifndef _KS_ALLOWLIST_H
#define _KS_ALLOWLIST_H

struct ks_allowed {
	const char *sym;
	long retval;
};

static const struct ks_allowed ks_allowlist[] = {
`)
	for _, p := range pairs {
		fmt.Fprintf(&b, "\t{ %q, %d },\t/* %s */\n", p.sym, p.retval, strings.Join(p.cves, ", "))
	}
	b.WriteString("};\n\n#endif /* _KS_ALLOWLIST_H */\n")
	return b.Bytes()
}
