// Package ksfstest is a fake killswitch module for tests: a securityfs tree
// in a temporary directory whose control and retval writes are interpreted
// the way kernel/ks_control.c and kernel/ks_core.c do, with the same
// errnos and log lines.
//
// Product code never imports it; tests hand Module (a hostfs.FS) to
// ksfs.New and to the CLI, drive calls with Call and time with Advance.
package ksfstest
