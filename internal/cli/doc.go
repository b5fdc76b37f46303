// Package cli is the killswitch command: status, engage, tryengage,
// observe, disengage, disengage-all, set-retval, check, doctor, save and
// completion. cmd/killswitch only calls Main.
//
// Everything outside the process goes through Env, so tests drive the
// commands against the fake module of internal/ksfs/ksfstest and fixture
// hosts without root.
//
// Exit codes: 0 done; 1 done, with warnings to read; 2 refused, nothing
// changed (pre-flight or kernel refusal, tryengage aborted); 3 could not
// run (usage error, module not loaded, I/O error).
package cli
