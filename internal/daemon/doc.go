// Package daemon is killswitchd's command line: flags, logging, the
// metrics server, and the helper commands (validate a policy, read the
// agent's metrics). The agent itself is package agent; cmd/killswitchd
// only calls Main.
package daemon
