package main

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
