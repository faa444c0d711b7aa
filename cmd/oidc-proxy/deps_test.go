package main

import (
	"os/exec"
	"strings"
	"testing"
)

// TestProxyLinksNoClientCredentialCode: the proxy runs in a cluster and
// never logs anyone in, so it links none of kubectl-oidc's token cache,
// login flows or OS keyring (the sign-in page reaches pkg/kubeconfig for
// the kubeconfig it offers; its token migration is in
// pkg/kubeconfig/legacytokens).
func TestProxyLinksNoClientCredentialCode(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	for _, pkg := range strings.Fields(string(out)) {
		switch {
		case pkg == "github.com/kube-oidc/kube-oidc/pkg/login",
			strings.HasPrefix(pkg, "github.com/kube-oidc/kube-oidc/pkg/login/tokencache"),
			strings.HasPrefix(pkg, "github.com/kube-oidc/kube-oidc/pkg/kubeconfig/legacytokens"),
			strings.HasPrefix(pkg, "github.com/zalando/go-keyring"),
			strings.HasPrefix(pkg, "github.com/godbus/"):
			t.Errorf("oidc-proxy links %s", pkg)
		}
	}
}
