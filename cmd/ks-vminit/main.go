// Command ks-vminit is PID 1 of the killswitch test VMs: it mounts the
// in-VM environment, runs /ks/suites/*, reports on the results channel and
// powers off. The harness (cmd/ks-vmtest) builds it statically and installs
// it as /init; it is useless anywhere else.
package main

import "github.com/killswitch/killswitch/internal/vmtest/guest"

func main() {
	guest.Main()
}
