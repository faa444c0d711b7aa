package main

import (
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/kube-oidc/kube-oidc/internal/termsafe"
	"github.com/kube-oidc/kube-oidc/pkg/login"
)

func newLogin(a *app) *cobra.Command {
	var loginAudiences []string
	cmd := &cobra.Command{
		Use:   "login",
		Short: "Sign in now, cache the token and show who you are",
		Long: `login signs you in with the given flags (always interactively, ignoring a
cached token), saves the tokens in the token cache that get-token reads, and
prints who you are: subject, email, groups and expiry. Use the same flags as
the get-token exec stanza of your kubeconfig.`,
		Example: `  kubectl oidc login --oidc-issuer-url=https://dex.example.com --oidc-client-id=kubectl \
    --oidc-extra-scope=email --oidc-extra-scope=groups

  # On a machine without a browser (SSH): paste the code shown by the provider
  kubectl oidc login --oidc-issuer-url=https://dex.example.com --oidc-client-id=kubectl --grant-type=authcode-keyboard`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			o, err := a.options()
			if err != nil {
				return err
			}
			o.LoginAudiences = loginAudiences
			tok, err := login.Login(cmd.Context(), o, a.ui(true))
			if err != nil {
				return err
			}
			termsafe.Fprintf(a.Err, "Logged in to %s.\n", o.IssuerURL)
			printIdentity(a.Err, tok, time.Now())
			return nil
		},
	}
	cmd.Flags().AddFlagSet(a.loginFlags)
	cmd.Flags().StringArrayVar(&loginAudiences, "oidc-login-audience", nil,
		"With --oidc-audience-method=dex-cross-client or resource-indicator: another cluster audience this sign-in authorizes besides --oidc-audience (repeatable), so that get-token for those clusters needs no new login")
	return cmd
}

// printIdentity writes the person's identity from the token's claims.
func printIdentity(w io.Writer, tok *login.Token, now time.Time) {
	c := tok.IDTokenClaims
	row := func(k, v string) { termsafe.Fprintf(w, "  %-8s %s\n", k+":", v) }
	if c == nil {
		row("token", "no ID token claims (access token only)")
	}
	if s := claimString(c, "sub"); s != "" {
		row("subject", s)
	}
	if s := claimString(c, "email"); s != "" {
		row("email", s)
	}
	if s := claimString(c, "preferred_username"); s != "" {
		row("username", s)
	}
	if g := claimStrings(c, "groups"); len(g) > 0 {
		row("groups", strings.Join(g, ", "))
	}
	row("expires", describeExpiry(tok.Expiry, now))
}

func describeExpiry(exp, now time.Time) string {
	if exp.IsZero() {
		return "unknown"
	}
	d := exp.Sub(now).Round(time.Second)
	if d <= 0 {
		return fmt.Sprintf("%s (expired %s ago)", exp.Local().Format(time.RFC3339), -d)
	}
	return fmt.Sprintf("%s (in %s)", exp.Local().Format(time.RFC3339), d)
}

func claimString(c map[string]any, k string) string {
	switch v := c[k].(type) {
	case string:
		return v
	case nil:
		return ""
	default:
		return fmt.Sprint(v)
	}
}

func claimStrings(c map[string]any, k string) []string {
	switch v := c[k].(type) {
	case string:
		return []string{v}
	case []string:
		return v
	case []any:
		out := make([]string, 0, len(v))
		for _, e := range v {
			out = append(out, fmt.Sprint(e))
		}
		return out
	}
	return nil
}
