package trust

import (
	"errors"
	"io"
)

// maxFile bounds the node's trust files (allowlist, keys): they are small.
const maxFile = 1 << 20

// limited reads at most n bytes and fails past them, rather than stopping
// silently as io.LimitReader does.
type limited struct {
	r io.Reader
	n int64
}

var errTooBig = errors.New("larger than 1 MiB: not a trust file")

func (l *limited) Read(p []byte) (int, error) {
	if l.n <= 0 {
		var one [1]byte
		if n, _ := l.r.Read(one[:]); n > 0 {
			return 0, errTooBig
		}
		return 0, io.EOF
	}
	if int64(len(p)) > l.n {
		p = p[:l.n]
	}
	n, err := l.r.Read(p)
	l.n -= int64(n)
	return n, err
}
