package demo

import (
	"errors"
	"testing"

	"golang.org/x/sys/unix"
)

// TestCopyFail runs the demonstrator on the build host: it must either
// work or say why not; EAFNOSUPPORT (no AF_ALG) skips.
func TestCopyFail(t *testing.T) {
	r, err := CopyFail()
	if errors.Is(err, unix.EAFNOSUPPORT) || errors.Is(err, unix.ENOENT) {
		t.Skipf("no AF_ALG aead here: %v", err)
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%s: %s", r.Outcome, r.Detail)
}

func TestCmsg(t *testing.T) {
	b := cmsg(unix.ALG_SET_OP, u32(unix.ALG_OP_ENCRYPT))
	if len(b) != unix.CmsgSpace(4) {
		t.Fatalf("cmsg is %d bytes, want %d", len(b), unix.CmsgSpace(4))
	}
	msgs, err := unix.ParseSocketControlMessage(b)
	if err != nil || len(msgs) != 1 || msgs[0].Header.Level != unix.SOL_ALG || msgs[0].Header.Type != unix.ALG_SET_OP || len(msgs[0].Data) != 4 {
		t.Fatalf("cmsg does not parse back: %+v, %v", msgs, err)
	}
}
