package main

import (
	"errors"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/kube-oidc/kube-oidc/cmd/kubectl-oidc/internal/execcred"
	"github.com/kube-oidc/kube-oidc/pkg/login"
)

func newGetToken(a *app) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "get-token",
		Short: "Print a token for kubectl (the exec credential plugin of your kubeconfig)",
		Long: `get-token is what kubectl runs from a kubeconfig user's exec stanza. It prints
an ExecCredential with the token and its expiry on stdout, in the API version
kubectl asked for in KUBERNETES_EXEC_INFO (client.authentication.k8s.io/v1 or
v1beta1; v1beta1 when the variable is absent). Messages go to stderr.

A valid cached token is returned without any network call; an expired one is
refreshed with the refresh token; otherwise you sign in. With no cache
entry of its own, it first imports kubelogin's cached tokens for the same
flags (docs/migrating-from-kubelogin.md). When kubectl says the
session is not interactive, no sign-in that needs you is attempted and the
error says which "kubectl oidc login" command to run.

"kubectl oidc setup" writes the exec stanza for you.`,
		Example: `  # In a kubeconfig:
  users:
  - name: oidc
    user:
      exec:
        apiVersion: client.authentication.k8s.io/v1
        command: kubectl-oidc
        args: [get-token, --oidc-issuer-url=https://dex.example.com, --oidc-client-id=kubectl]
        interactiveMode: IfAvailable`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			req, err := execcred.ParseRequest(a.getenv(execcred.EnvVar))
			if err != nil {
				return err
			}
			if req.ClusterServer != "" {
				// kubectl says where the token goes: the cache entry is that cluster's.
				a.opts.Cluster = req.ClusterServer
			}
			o, err := a.options()
			if err != nil {
				return err
			}
			tok, err := login.Get(cmd.Context(), o, a.ui(req.Interactive))
			if errors.Is(err, login.ErrInteractionRequired) {
				line := a.loginCommandLine()
				if req.ClusterServer != "" && !a.loginFlags.Changed("cluster-server") {
					line += " " + shellQuote("--cluster-server="+req.ClusterServer)
				}
				return fmt.Errorf("interactive login needed: run \"%s\"", line)
			}
			if err != nil {
				return err
			}
			return execcred.Write(a.Out, req.APIVersion, tok.Token, tok.Expiry)
		},
	}
	cmd.Flags().AddFlagSet(a.loginFlags)
	return cmd
}
