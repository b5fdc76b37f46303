package demo

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"unsafe"

	"golang.org/x/sys/unix"
)

// CopyFail runs one AF_ALG AEAD gcm(aes) encryption of 32 bytes and
// checks the tag length. EPERM from sendmsg (af_alg_sendmsg engaged with
// -1) is Blocked; any other failure is an error.
func CopyFail() (Result, error) {
	const alg = "gcm(aes)"
	tfm, err := unix.Socket(unix.AF_ALG, unix.SOCK_SEQPACKET|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return Result{}, fmt.Errorf("open an AF_ALG socket: %w (is af_alg loaded? modprobe algif_aead)", err)
	}
	defer unix.Close(tfm)
	if err := unix.Bind(tfm, &unix.SockaddrALG{Type: "aead", Name: alg}); err != nil {
		return Result{}, fmt.Errorf("bind AF_ALG aead %s: %w (modprobe algif_aead gcm)", alg, err)
	}
	key := bytes.Repeat([]byte{0x42}, 16)
	if err := unix.SetsockoptString(tfm, unix.SOL_ALG, unix.ALG_SET_KEY, string(key)); err != nil {
		return Result{}, fmt.Errorf("set the %s key: %w", alg, err)
	}
	// ALG_SET_AEAD_AUTHSIZE takes the size as optlen and no value.
	if _, _, e := unix.Syscall6(unix.SYS_SETSOCKOPT, uintptr(tfm), unix.SOL_ALG, unix.ALG_SET_AEAD_AUTHSIZE, 0, 16, 0); e != 0 {
		return Result{}, fmt.Errorf("set the %s tag size: %w", alg, e)
	}
	opfd, _, e := unix.Syscall(unix.SYS_ACCEPT4, uintptr(tfm), 0, 0)
	if e != 0 {
		return Result{}, fmt.Errorf("accept an AF_ALG operation socket: %w", e)
	}
	op := int(opfd)
	defer unix.Close(op)

	plain := bytes.Repeat([]byte("killswitch demo!"), 2)
	var oob []byte
	oob = append(oob, cmsg(unix.ALG_SET_OP, u32(unix.ALG_OP_ENCRYPT))...)
	iv := append(u32(12), make([]byte, 12)...) // struct af_alg_iv: ivlen, iv
	oob = append(oob, cmsg(unix.ALG_SET_IV, iv)...)
	oob = append(oob, cmsg(unix.ALG_SET_AEAD_ASSOCLEN, u32(0))...)
	if _, err := unix.SendmsgN(op, plain, oob, nil, 0); err != nil {
		if errors.Is(err, unix.EPERM) {
			return Result{Blocked, "sendmsg on the AF_ALG aead socket failed with EPERM: af_alg_sendmsg refused the data, the AEAD path never ran"}, nil
		}
		return Result{}, fmt.Errorf("sendmsg to AF_ALG %s: %w", alg, err)
	}
	// Read exactly one operation's output: asking for more makes newer
	// kernels (6.12) wait for the next request.
	out := make([]byte, len(plain)+16)
	n, err := unix.Read(op, out)
	if err != nil {
		if errors.Is(err, unix.EPERM) {
			return Result{Blocked, "reading the AF_ALG result failed with EPERM"}, nil
		}
		return Result{}, fmt.Errorf("read the %s result: %w", alg, err)
	}
	if n != len(out) || bytes.Equal(out[:len(plain)], plain) {
		return Result{}, fmt.Errorf("AF_ALG %s returned %d bytes (want %d) or no ciphertext", alg, n, len(out))
	}
	return Result{Exposed, fmt.Sprintf("AF_ALG aead %s encrypted %d bytes in the kernel (ciphertext %x..., tag %x)", alg, len(plain), out[:8], out[len(plain):len(plain)+4])}, nil
}

func u32(v uint32) []byte { return binary.NativeEndian.AppendUint32(nil, v) }

// cmsg builds one SOL_ALG control message.
func cmsg(typ int, data []byte) []byte {
	b := make([]byte, unix.CmsgSpace(len(data)))
	h := (*unix.Cmsghdr)(unsafe.Pointer(&b[0]))
	h.Level = unix.SOL_ALG
	h.Type = int32(typ)
	h.SetLen(unix.CmsgLen(len(data)))
	copy(b[unix.CmsgLen(0):], data)
	return b
}
