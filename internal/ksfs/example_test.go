package ksfs_test

import (
	"fmt"
	"log"
	"os"

	"github.com/killswitch/killswitch/internal/ksfs"
	"github.com/killswitch/killswitch/internal/ksfs/ksfstest"
)

// On a real host the client is ksfs.New(hostfs.Dir("/")); here it talks to
// the fake module.
func Example() {
	dir, err := os.MkdirTemp("", "ksfs-example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	module, err := ksfstest.New(dir)
	if err != nil {
		log.Fatal(err)
	}
	client := ksfs.New(module)

	// CVE-2026-31431: refuse AF_ALG sockets for everyone but root.
	uidNot0, _ := ksfs.ParseFilter("uid!=0")
	if err := client.Engage("af_alg_sendmsg", -1, uidNot0); err != nil {
		log.Fatal(err)
	}
	module.Call("af_alg_sendmsg", "exploit", 4242, 1000)

	err = client.Engage("af_alg_sendmsg", -1)
	fmt.Println(err)

	list, _ := client.Engagements()
	for _, e := range list {
		fmt.Printf("%s %s retval=%s hits=%d filter=%s\n", e.Symbol, e.State, ksfs.FormatRetval(e.Retval), e.Hits, e.Filter)
	}
	// Output:
	// engage af_alg_sendmsg: already engaged, probing or observed (killswitch status shows it; disengage it first, or change the value with killswitch set-retval)
	// af_alg_sendmsg engaged retval=-1 (EPERM) hits=1 filter=uid!=0
}
