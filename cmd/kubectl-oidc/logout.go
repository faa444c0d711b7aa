package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/kube-oidc/kube-oidc/pkg/login"
)

func newLogout(a *app) *cobra.Command {
	var all bool
	cmd := &cobra.Command{
		Use:   "logout",
		Short: "Remove cached tokens and revoke their refresh tokens",
		Long: `logout removes the cached tokens of the provider and client given by the
login flags (or every cached token with --all) and revokes each refresh token
at the provider's revocation endpoint when the provider has one. A failed
revocation is reported, and the cached entry is removed all the same.

Give the same --token-cache-dir and --token-cache-storage as get-token uses.`,
		Example: `  kubectl oidc logout --oidc-issuer-url=https://dex.example.com --oidc-client-id=kubectl
  kubectl oidc logout --all`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			o := a.opts
			o.Verbosity = a.verbosity
			a.secretsFromEnv(&o)
			a.expandHome(&o)
			if !all {
				if err := o.Validate(); err != nil {
					return err
				}
			}
			n, err := login.Logout(cmd.Context(), o, a.ui(false), all)
			switch {
			case n == 0 && err == nil:
				fmt.Fprintln(a.Err, "Nothing to remove: no cached token for these settings.")
			case n == 1:
				fmt.Fprintln(a.Err, "Removed 1 cached token entry.")
			case n > 1:
				fmt.Fprintf(a.Err, "Removed %d cached token entries.\n", n)
			}
			return err
		},
	}
	cmd.Flags().BoolVar(&all, "all", false, "Remove every cached token in the token cache, whatever the provider")
	cmd.Flags().AddFlagSet(a.loginFlags)
	return cmd
}
