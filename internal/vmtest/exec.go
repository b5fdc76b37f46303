package vmtest

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/killswitch/killswitch/internal/flock"
)

// tailLines is how much of a failed command's output its error carries.
const tailLines = 30

// run runs a command in dir (cwd when empty). Its output goes to the log
// when verbose; otherwise it is kept and its tail returned with the error.
func run(ctx context.Context, env *Env, dir, name string, args ...string) error {
	return runEnv(ctx, env, dir, nil, name, args...)
}

// runEnv is run with extra environment variables.
func runEnv(ctx context.Context, env *Env, dir string, extraEnv []string, name string, args ...string) error {
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir = dir
	if extraEnv != nil {
		cmd.Env = append(os.Environ(), extraEnv...)
	}
	var buf bytes.Buffer
	var w io.Writer = &buf
	if env.Verbose {
		w = io.MultiWriter(&buf, env.Log)
	}
	cmd.Stdout, cmd.Stderr = w, w
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("%s: %w%s", commandString(name, args), err, tail(buf.String()))
	}
	return nil
}

// output runs a command and returns its stdout.
func output(ctx context.Context, dir, name string, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir = dir
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("%s: %w%s", commandString(name, args), err, tail(stderr.String()))
	}
	return string(out), nil
}

func commandString(name string, args []string) string {
	return strings.Join(append([]string{name}, args...), " ")
}

func tail(out string) string {
	lines := strings.Split(strings.TrimRight(out, "\n"), "\n")
	if len(lines) > tailLines {
		lines = lines[len(lines)-tailLines:]
	}
	s := strings.Join(lines, "\n")
	if strings.TrimSpace(s) == "" {
		return ""
	}
	return "\n" + s
}

// findTool finds an administration tool that may live in an sbin directory
// missing from a non-root PATH.
func findTool(name string) string {
	if p, err := exec.LookPath(name); err == nil {
		return p
	}
	for _, dir := range []string{"/usr/sbin", "/sbin"} {
		p := filepath.Join(dir, name)
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	return name
}

// lockFile takes an exclusive lock on path, waiting for other harness runs
// that share the cache. The returned func releases it.
func lockFile(ctx context.Context, path string) (func(), error) {
	return flock.Lock(ctx, path)
}
