package demo

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"os"
	"runtime"
	"strings"
	"time"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// The demonstration link: documentation addresses, on a veth pair that
// exists only inside the two namespaces DirtyFrag makes.
var (
	senderIP   = net.IPv4(192, 0, 2, 1).To4()
	receiverIP = net.IPv4(192, 0, 2, 2).To4()
)

const (
	udpPort   = 7777
	datagrams = 3
	spiOut    = 0x4b530001 // sender -> receiver
	spiBack   = 0x4b530002 // receiver -> sender
)

// DirtyFrag sends UDP datagrams from one network namespace to another over
// ESP (transport mode, rfc4106(gcm(aes))) and reports whether they arrive.
// Datagrams that leave as ESP but are not delivered, with the receiver's
// XfrmInStateProtoError counting them, are Blocked: esp_input refused them.
func DirtyFrag() (Result, error) {
	// Namespaces belong to threads: stay on this one, and return it to
	// where it was.
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	orig, err := netns.Get()
	if err != nil {
		return Result{}, fmt.Errorf("read this thread's network namespace: %w", err)
	}
	defer orig.Close()
	defer netns.Set(orig) //nolint:errcheck // best effort on the way out

	sender, err := netns.New()
	if err != nil {
		return Result{}, fmt.Errorf("create the sender's network namespace: %w (needs root)", err)
	}
	defer sender.Close()
	receiver, err := netns.New()
	if err != nil {
		return Result{}, fmt.Errorf("create the receiver's network namespace: %w", err)
	}
	defer receiver.Close()

	hs, err := netlink.NewHandleAt(sender)
	if err != nil {
		return Result{}, fmt.Errorf("netlink in the sender's namespace: %w", err)
	}
	defer hs.Close()
	hr, err := netlink.NewHandleAt(receiver)
	if err != nil {
		return Result{}, fmt.Errorf("netlink in the receiver's namespace: %w", err)
	}
	defer hr.Close()

	if err := link(hs, hr, receiver); err != nil {
		return Result{}, err
	}
	if err := protect(hs, senderIP, receiverIP, spiOut, spiBack); err != nil {
		return Result{}, fmt.Errorf("sender: %w", err)
	}
	if err := protect(hr, receiverIP, senderIP, spiBack, spiOut); err != nil {
		return Result{}, fmt.Errorf("receiver: %w", err)
	}

	// Sockets belong to the namespace they were opened in.
	if err := netns.Set(receiver); err != nil {
		return Result{}, err
	}
	rx, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return Result{}, fmt.Errorf("receiver socket: %w", err)
	}
	defer unix.Close(rx)
	if err := unix.Bind(rx, &unix.SockaddrInet4{Port: udpPort, Addr: [4]byte(receiverIP)}); err != nil {
		return Result{}, fmt.Errorf("bind the receiver to %s:%d: %w", receiverIP, udpPort, err)
	}
	// Generous for a loaded machine: a datagram that arrives after its
	// receive gave up would be counted against the next one.
	tv := unix.NsecToTimeval((2 * time.Second).Nanoseconds())
	if err := unix.SetsockoptTimeval(rx, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv); err != nil {
		return Result{}, err
	}
	before, _ := xfrmStat("XfrmInStateProtoError")

	if err := netns.Set(sender); err != nil {
		return Result{}, err
	}
	tx, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return Result{}, fmt.Errorf("sender socket: %w", err)
	}
	defer unix.Close(tx)

	got := 0
	msg := []byte("dirty frag demo")
	buf := make([]byte, 64)
	for i := 0; i < datagrams; i++ {
		if err := unix.Sendto(tx, msg, 0, &unix.SockaddrInet4{Port: udpPort, Addr: [4]byte(receiverIP)}); err != nil {
			return Result{}, fmt.Errorf("send a datagram over ESP to %s: %w", receiverIP, err)
		}
		n, _, err := unix.Recvfrom(rx, buf, 0)
		switch {
		case err == nil && bytes.Equal(buf[:n], msg):
			got++
		case err == nil, errors.Is(err, unix.EAGAIN), errors.Is(err, unix.EINTR):
		default:
			return Result{}, fmt.Errorf("receive over ESP: %w", err)
		}
	}

	if err := netns.Set(sender); err != nil {
		return Result{}, err
	}
	sent, err := espPackets(hs, spiOut)
	if err != nil {
		return Result{}, err
	}
	if err := netns.Set(receiver); err != nil {
		return Result{}, err
	}
	after, _ := xfrmStat("XfrmInStateProtoError")
	refused := after - before

	switch {
	case sent == 0:
		return Result{}, fmt.Errorf("no datagram left as ESP (SA %#x counted none): the policy did not apply", spiOut)
	case got == datagrams:
		return Result{Exposed, fmt.Sprintf("%d/%d UDP datagrams %s -> %s arrived through ESP SA %#x (rfc4106(gcm(aes)), transport mode): esp_input decrypted them",
			got, datagrams, senderIP, receiverIP, spiOut)}, nil
	case got == 0:
		return Result{Blocked, fmt.Sprintf("0/%d UDP datagrams arrived; %d left as ESP and the receiver refused %d (XfrmInStateProtoError): esp_input did not decrypt them",
			datagrams, sent, refused)}, nil
	}
	return Result{}, fmt.Errorf("%d of %d datagrams arrived: neither exposed nor blocked (was the engagement changed meanwhile?)", got, datagrams)
}

// link makes the veth pair, one end in each namespace, and brings it up.
func link(hs, hr *netlink.Handle, receiver netns.NsHandle) error {
	veth := &netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: "ksdemo0"}, PeerName: "ksdemo1", PeerNamespace: netlink.NsFd(receiver)}
	if err := hs.LinkAdd(veth); err != nil {
		return fmt.Errorf("create the veth pair: %w (modprobe veth)", err)
	}
	for _, end := range []struct {
		h    *netlink.Handle
		name string
		ip   net.IP
	}{{hs, "ksdemo0", senderIP}, {hr, "ksdemo1", receiverIP}} {
		l, err := end.h.LinkByName(end.name)
		if err != nil {
			return fmt.Errorf("find %s: %w", end.name, err)
		}
		addr := &netlink.Addr{IPNet: &net.IPNet{IP: end.ip, Mask: net.CIDRMask(24, 32)}}
		if err := end.h.AddrAdd(l, addr); err != nil {
			return fmt.Errorf("address %s on %s: %w", end.ip, end.name, err)
		}
		if err := end.h.LinkSetUp(l); err != nil {
			return fmt.Errorf("bring %s up: %w", end.name, err)
		}
	}
	// Until the link watcher has run, a device that is up still sends
	// through the noop qdisc, which drops: the first datagram would be
	// lost. It runs at most once a second, later on a loaded machine.
	// Operational state up says it has run.
	deadline := time.Now().Add(10 * time.Second)
	for _, end := range []struct {
		h    *netlink.Handle
		name string
	}{{hs, "ksdemo0"}, {hr, "ksdemo1"}} {
		for {
			l, err := end.h.LinkByName(end.name)
			if err != nil {
				return fmt.Errorf("find %s: %w", end.name, err)
			}
			if l.Attrs().OperState == netlink.OperUp {
				break
			}
			if time.Now().After(deadline) {
				return fmt.Errorf("%s is still %s after 10s", end.name, l.Attrs().OperState)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	return nil
}

// protect installs both SAs and the outbound policy on one side.
func protect(h *netlink.Handle, self, peer net.IP, out, in int) error {
	key := bytes.Repeat([]byte{0x4b}, 20) // 128-bit AES key and 4-byte salt
	for _, sa := range []struct {
		src, dst net.IP
		spi      int
	}{{self, peer, out}, {peer, self, in}} {
		st := &netlink.XfrmState{
			Src: sa.src, Dst: sa.dst, Proto: netlink.XFRM_PROTO_ESP, Mode: netlink.XFRM_MODE_TRANSPORT,
			Spi: sa.spi, Reqid: sa.spi,
			Aead: &netlink.XfrmStateAlgo{Name: "rfc4106(gcm(aes))", Key: key, ICVLen: 128},
		}
		if err := h.XfrmStateAdd(st); err != nil {
			return fmt.Errorf("add ESP SA %#x %s -> %s: %w (modprobe xfrm_user esp4 gcm)", sa.spi, sa.src, sa.dst, err)
		}
	}
	pol := &netlink.XfrmPolicy{
		Src: &net.IPNet{IP: self, Mask: net.CIDRMask(32, 32)},
		Dst: &net.IPNet{IP: peer, Mask: net.CIDRMask(32, 32)},
		Dir: netlink.XFRM_DIR_OUT,
		Tmpls: []netlink.XfrmPolicyTmpl{{Src: self, Dst: peer, Proto: netlink.XFRM_PROTO_ESP,
			Mode: netlink.XFRM_MODE_TRANSPORT, Reqid: out}},
	}
	if err := h.XfrmPolicyAdd(pol); err != nil {
		return fmt.Errorf("add the ESP policy %s -> %s: %w", self, peer, err)
	}
	return nil
}

// espPackets counts what the SA with this SPI has processed.
func espPackets(h *netlink.Handle, spi int) (uint64, error) {
	states, err := h.XfrmStateList(netlink.FAMILY_V4)
	if err != nil {
		return 0, fmt.Errorf("list SAs: %w", err)
	}
	for _, s := range states {
		if s.Spi == spi {
			return s.Statistics.Packets, nil
		}
	}
	return 0, fmt.Errorf("SA %#x is gone", spi)
}

// xfrmStat reads a counter of this thread's namespace's /proc/net/xfrm_stat.
func xfrmStat(name string) (uint64, error) {
	b, err := os.ReadFile("/proc/thread-self/net/xfrm_stat")
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) == 2 && f[0] == name {
			var n uint64
			_, err := fmt.Sscan(f[1], &n)
			return n, err
		}
	}
	return 0, fmt.Errorf("%s not in xfrm_stat", name)
}
