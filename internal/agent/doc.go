// Package agent is killswitchd's logic: it keeps the killswitch module's
// engagements as a policy file says, on one host, for as long as it runs.
//
// A reconcile pass selects the policy's targets for the running kernel
// and the current time (package policy), reads the module's engagements
// (package ksfs, the only code that opens the module's files), and then:
//
//   - engages what is missing, after pre-flight (package preflight) and,
//     for an entry with load: true, after loading the module that holds
//     the function; refusals are reported, never forced;
//   - changes what the agent owns and the policy now wants differently:
//     a new retval is written live, other changes disengage and engage
//     anew, and a change pre-flight refuses leaves the old engagement;
//   - disengages what the agent owns and the policy no longer wants
//     (removed, expired, no longer selected);
//   - leaves engagements it did not make alone, reporting them as held
//     (as the policy wants) or in conflict, unless the entry says adopt
//     or the policy is exclusive.
//
// Before any of it, the node's trust policy (package trust, from the
// command line, never the policy) judges each entry: entries it refuses
// are not applied, and are logged, counted and fail readiness. With
// signing keys, an unsigned or badly signed policy is rejected like an
// invalid one.
//
// Ownership is recorded in a state file (owned.json in a runtime
// directory): the symbol, retval, filters and the module's since
// timestamp of each engagement the agent made; an engagement is the
// agent's only if all of them match, and the boot id forgets a previous
// boot's. A record the agent could not complete (a crash between the
// write and reading since back) proves nothing: that engagement is left
// alone, never taken over.
//
// Passes run at start, when the policy file changes (fsnotify, debounced),
// when a module is loaded or removed (kernel uevents: a reloaded
// killswitch is re-engaged at once), when an entry expires, and every
// interval. If killswitch is not loaded the agent modprobes it. An invalid
// policy file changes nothing: the last valid policy stays in force. Every
// action is logged through log/slog with the policy version; the state is
// exported as Prometheus metrics, read from the module at scrape time.
//
// Stopping the agent leaves the engagements in place: mitigations must not
// depend on a daemon staying up. To roll back, apply a policy without the
// entries (entries: [] removes everything the agent made).
package agent
