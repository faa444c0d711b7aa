//go:build tools

// Package tools pins the real components the e2e harness builds from source
// (kube-apiserver), so that `go mod tidy` keeps them in e2e/go.mod and
// `go build k8s.io/kubernetes/cmd/kube-apiserver` resolves exact versions.
package tools

import (
	_ "k8s.io/kubernetes/cmd/kube-apiserver"
	_ "k8s.io/kubernetes/cmd/kube-controller-manager"
	_ "k8s.io/kubernetes/cmd/kube-scheduler"
	_ "k8s.io/kubernetes/cmd/kubectl"
	_ "k8s.io/kubernetes/cmd/kubelet"
)
