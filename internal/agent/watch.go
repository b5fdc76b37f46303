package agent

import (
	"context"
	"fmt"
	"path/filepath"

	"github.com/fsnotify/fsnotify"
)

// watchPolicy sends an Event whenever something changes in the policy
// file's directory. Watching the directory, not the file, follows the ways
// files get replaced: an editor's rename over it, a config manager's atomic
// write, Kubernetes swapping a ConfigMap's ..data symlink.
func watchPolicy(ctx context.Context, path string, ch chan<- Event) error {
	w, err := fsnotify.NewWatcher()
	if err != nil {
		return fmt.Errorf("watch policy: %w", err)
	}
	dir := filepath.Dir(path)
	if err := w.Add(dir); err != nil {
		w.Close()
		return fmt.Errorf("watch policy directory %s: %w", dir, err)
	}
	go func() {
		defer w.Close()
		for {
			select {
			case <-ctx.Done():
				return
			case _, ok := <-w.Events:
				if !ok {
					return
				}
				send(ctx, ch, Event{Policy: true})
			case _, ok := <-w.Errors:
				if !ok {
					return
				}
				// An overflow lost events: read the file anyway.
				send(ctx, ch, Event{Policy: true})
			}
		}
	}()
	return nil
}

// send delivers ev unless the agent is stopping.
func send(ctx context.Context, ch chan<- Event, ev Event) {
	select {
	case ch <- ev:
	case <-ctx.Done():
	}
}
