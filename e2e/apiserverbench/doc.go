// Package apiserverbench measures oidc-proxy against a real kube-apiserver
// and etcd (started by the e2e harness): closed-loop GET and LIST of
// configmaps, watch fan-out at many streams, and a watcher that stops
// reading, each through the API server directly, a bare reverse proxy and
// the oidc-proxy binary. It is a Go benchmark, so `go test` without -bench
// never runs it; `make bench-apiserver` does (docs/benchmarks.md).
package apiserverbench
