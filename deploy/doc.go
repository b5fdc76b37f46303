// Package deploy holds no code: it is the Go module of the deployment
// files' tests (Kubernetes manifests decoded with the API's own types,
// the Helm chart linted and rendered by helm built from the module proxy,
// the Prometheus alerts parsed as Prometheus does, the systemd unit
// verified), kept apart so their heavy dependencies stay out of the
// product's go.sum. Run with: cd deploy && go test ./...
package deploy
