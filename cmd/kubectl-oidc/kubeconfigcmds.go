//go:build !kubeconfig_sibling

package main

import (
	"github.com/spf13/cobra"

	"github.com/kube-oidc/kube-oidc/pkg/kubeconfig/setupcmd"
)

// kubeconfigCommands are the commands that read or write kubeconfigs
// (whoami, setup, convert). This build runs them itself; the build with the
// tag kubeconfig_sibling (the released kubectl-oidc) runs this one, shipped
// as kubectl-oidc-kubeconfig, for them.
func kubeconfigCommands(a *app) []*cobra.Command {
	return []*cobra.Command{newWhoami(a), setupcmd.NewSetup(a.loginFlags), setupcmd.NewConvert(nil)}
}
