// Package e2e holds the end-to-end scenarios of kube-oidc on real components:
// etcd, kube-apiserver, Dex, headless Chromium, kubectl, and our own binaries.
// The harness that starts them is in e2e/harness; `make e2e-deps e2e-bins`
// installs and builds what they need (see docs/e2e.md).
package e2e
