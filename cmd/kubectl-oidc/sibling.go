package main

import (
	"os"
	"path/filepath"
	"runtime"
)

// siblingName is the executable that runs the kubeconfig commands for the
// build with the tag kubeconfig_sibling: this package built without the tag.
// Release archives and the krew plugin ship it next to kubectl-oidc.
const siblingName = "kubectl-oidc-kubeconfig"

// kubeconfigShort is the one-line help of each kubeconfig command, as the
// commands themselves give it (commands_test.go checks that they match).
var kubeconfigShort = map[string]string{
	"whoami":  "Show the identity in the cached token and the one the cluster sees",
	"setup":   "Write a kubeconfig context that logs in with kubectl oidc",
	"convert": "Rewrite auth-provider oidc and kubelogin users into kubectl oidc exec users",
}

// siblingPath is kubectl-oidc-kubeconfig in the directory of the running
// executable, symbolic links resolved (krew links kubectl-oidc into its bin
// directory and unpacks the archive elsewhere).
func siblingPath() (string, error) {
	exe, err := os.Executable()
	if err != nil {
		return "", err
	}
	if resolved, err := filepath.EvalSymlinks(exe); err == nil {
		exe = resolved
	}
	name := siblingName
	if runtime.GOOS == "windows" {
		name += ".exe"
	}
	return filepath.Join(filepath.Dir(exe), name), nil
}
