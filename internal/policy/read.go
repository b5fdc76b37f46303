package policy

import (
	"fmt"
	"io"
	"os"
)

// ReadFile reads a policy file of at most MaxSize bytes. It stops reading
// past the limit, so a huge (or endless) file costs no more than MaxSize of
// memory, and says so.
func ReadFile(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return readLimited(f, path, MaxSize)
}

func readLimited(r io.Reader, name string, limit int64) ([]byte, error) {
	data, err := io.ReadAll(io.LimitReader(r, limit+1))
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", name, err)
	}
	if int64(len(data)) > limit {
		return nil, fmt.Errorf("%s is larger than the %d bytes a policy may have: not read (split it, or drop entries that have expired)", name, limit)
	}
	return data, nil
}
