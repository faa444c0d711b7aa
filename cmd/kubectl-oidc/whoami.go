//go:build !kubeconfig_sibling

package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"

	"github.com/kube-oidc/kube-oidc/internal/termsafe"
	"github.com/kube-oidc/kube-oidc/pkg/kubeconfig"
	"github.com/kube-oidc/kube-oidc/pkg/login"
)

func newWhoami(a *app) *cobra.Command {
	var kubeconfigPath, contextName string
	cmd := &cobra.Command{
		Use:   "whoami",
		Short: "Show the identity in the cached token and the one the cluster sees",
		Long: `whoami shows the claims and expiry of the cached token, without any network
call to the provider.

The login settings come from the login flags when given; otherwise from the
exec stanza of the user of --context (default: the current context), when it
runs "kubectl oidc get-token". With such a context, whoami also asks the
cluster which identity the API server sees (a SelfSubjectReview, as
"kubectl auth whoami" does), authenticating exactly as kubectl would: an
expired token is refreshed on the way.`,
		Example: `  # The current context
  kubectl oidc whoami

  # Another context of another kubeconfig
  kubectl oidc whoami --kubeconfig ~/.kube/prod --context prod

  # Only the cache, by flags
  kubectl oidc whoami --oidc-issuer-url=https://dex.example.com --oidc-client-id=kubectl`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return a.whoami(cmd.Context(), kubeconfigPath, contextName)
		},
	}
	cmd.Flags().StringVar(&kubeconfigPath, "kubeconfig", "", "Kubeconfig file (default: KUBECONFIG, else ~/.kube/config)")
	cmd.Flags().StringVar(&contextName, "context", "", "Kubeconfig context whose user and cluster to use (default: the current context)")
	cmd.Flags().AddFlagSet(a.loginFlags)
	return cmd
}

func (a *app) whoami(ctx context.Context, kubeconfigPath, contextName string) error {
	flagsGiven := a.loginFlagsGiven()
	var kc *kubeContext
	if contextName != "" || !flagsGiven {
		var err error
		if kc, err = loadKubeContext(kubeconfigPath, contextName); err != nil {
			return err
		}
	}
	o, loginFlags := a.opts, a.loginFlags
	if !flagsGiven {
		var err error
		if o, loginFlags, err = kc.loginSettings(); err != nil {
			return err
		}
	}
	o.Verbosity = a.verbosity
	a.expandHome(&o)
	if err := o.Validate(); err != nil {
		return err
	}
	tok, err := login.Cached(ctx, o, a.ui(false))
	if errors.Is(err, login.ErrNotLoggedIn) {
		return fmt.Errorf("not logged in to %s: run \"%s\"", o.IssuerURL, loginCommandLine(loginFlags))
	}
	if err != nil {
		return err
	}
	printCached(a.Out, o.IssuerURL, tok, time.Now())
	if kc == nil {
		return nil
	}
	who, err := kubeconfig.SelfSubjectReview(ctx, kc.restConfig)
	if err != nil {
		return fmt.Errorf("ask the cluster of context %q who you are (SelfSubjectReview): %w", kc.name, err)
	}
	termsafe.Fprintf(a.Out, "\nThe cluster of context %q (%s) sees you as:\n", kc.name, kc.restConfig.Host)
	termsafe.Fprintf(a.Out, "  %-9s %s\n", "username:", who.Username)
	if who.UID != "" {
		termsafe.Fprintf(a.Out, "  %-9s %s\n", "uid:", who.UID)
	}
	if len(who.Groups) > 0 {
		termsafe.Fprintf(a.Out, "  %-9s %s\n", "groups:", strings.Join(who.Groups, ", "))
	}
	for _, k := range slices.Sorted(maps.Keys(who.Extra)) {
		termsafe.Fprintf(a.Out, "  extra %s: %s\n", k, strings.Join(who.Extra[k], ", "))
	}
	return nil
}

// loginSettings returns the get-token flags of the context's user.
func (kc *kubeContext) loginSettings() (login.Options, *pflag.FlagSet, error) {
	args, ok := getTokenArgs(kc.user)
	if !ok {
		return login.Options{}, nil, fmt.Errorf("the user %q of context %q does not run \"kubectl oidc get-token\"; give the login flags (--oidc-issuer-url, --oidc-client-id, ...) or a --context that uses kubectl oidc", kc.userName, kc.name)
	}
	o, fs, err := parseLoginArgs(args)
	if err != nil {
		return login.Options{}, nil, fmt.Errorf("exec stanza of user %q: %w", kc.userName, err)
	}
	if kc.user.Exec.ProvideClusterInfo && o.Cluster == "" && kc.restConfig != nil {
		// get-token's cache entry is bound to the server kubectl names.
		if err := fs.Set("cluster-server", kc.restConfig.Host); err != nil {
			return login.Options{}, nil, err
		}
		o.Cluster = kc.restConfig.Host
	}
	for _, e := range kc.user.Exec.Env {
		switch {
		case e.Name == login.EnvClientSecret && o.ClientSecret == "":
			o.ClientSecret = e.Value
		}
	}
	return o, fs, nil
}

// printCached writes the cached token's issuer, expiry and claims.
func printCached(w io.Writer, issuer string, tok *login.Token, now time.Time) {
	termsafe.Fprintf(w, "Cached token of %s:\n", issuer)
	termsafe.Fprintf(w, "  %-9s %s\n", "expires:", describeExpiry(tok.Expiry, now))
	if tok.IDTokenClaims == nil {
		termsafe.Fprintf(w, "  %-9s %s\n", "claims:", "none (no ID token cached)")
		return
	}
	fmt.Fprintln(w, "  claims:")
	for _, k := range slices.Sorted(maps.Keys(tok.IDTokenClaims)) {
		termsafe.Fprintf(w, "    %s: %s\n", k, formatClaim(k, tok.IDTokenClaims[k]))
	}
}

// timeClaims are the claims holding seconds since the epoch.
var timeClaims = map[string]bool{"exp": true, "iat": true, "nbf": true, "auth_time": true, "updated_at": true}

func formatClaim(name string, v any) string {
	if f, ok := v.(float64); ok && timeClaims[name] {
		return fmt.Sprintf("%d (%s)", int64(f), time.Unix(int64(f), 0).UTC().Format(time.RFC3339))
	}
	switch v := v.(type) {
	case []any:
		s := make([]string, len(v))
		for i, e := range v {
			s[i] = fmt.Sprint(e)
		}
		return "[" + strings.Join(s, ", ") + "]"
	case float64:
		if v == float64(int64(v)) {
			return fmt.Sprint(int64(v))
		}
	}
	return fmt.Sprint(v)
}

// loginFlagsGiven reports whether any login flag was set.
func (a *app) loginFlagsGiven() bool {
	given := false
	a.loginFlags.VisitAll(func(f *pflag.Flag) {
		if f.Changed {
			given = true
		}
	})
	return given
}

// kubeContext is a kubeconfig context resolved as kubectl would.
type kubeContext struct {
	name       string
	userName   string
	user       *clientcmdapi.AuthInfo
	restConfig *rest.Config
}

// loadKubeContext loads the kubeconfig (explicit path, else KUBECONFIG,
// else ~/.kube/config) and resolves contextName (default: current).
func loadKubeContext(path, contextName string) (*kubeContext, error) {
	rules := clientcmd.NewDefaultClientConfigLoadingRules()
	rules.ExplicitPath = path
	overrides := &clientcmd.ConfigOverrides{CurrentContext: contextName}
	cc := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, overrides)
	raw, err := cc.RawConfig()
	if err != nil {
		return nil, fmt.Errorf("load kubeconfig: %w", err)
	}
	name := contextName
	if name == "" {
		name = raw.CurrentContext
	}
	if name == "" {
		return nil, errors.New("no login settings: give --oidc-issuer-url and --oidc-client-id, or --context of a kubeconfig context that uses kubectl oidc (there is no current context)")
	}
	kctx, ok := raw.Contexts[name]
	if !ok {
		return nil, fmt.Errorf("context %q is not in the kubeconfig (%s)", name, strings.Join(rules.GetLoadingPrecedence(), string(filepath.ListSeparator)))
	}
	user := raw.AuthInfos[kctx.AuthInfo]
	if user == nil {
		return nil, fmt.Errorf("context %q names user %q, which is not in the kubeconfig", name, kctx.AuthInfo)
	}
	rc, err := cc.ClientConfig()
	if err != nil {
		return nil, fmt.Errorf("context %q: %w", name, err)
	}
	return &kubeContext{name: name, userName: kctx.AuthInfo, user: user, restConfig: rc}, nil
}

// getTokenArgs returns the get-token flags of an exec stanza that runs
// `kubectl oidc get-token` (or `kubectl-oidc get-token`), and whether it does.
func getTokenArgs(u *clientcmdapi.AuthInfo) ([]string, bool) {
	if u == nil || u.Exec == nil {
		return nil, false
	}
	args := u.Exec.Args
	switch base := kubeconfig.CommandBase(u.Exec.Command); {
	case base == "kubectl" && len(args) >= 2 && args[0] == "oidc" && args[1] == "get-token":
		return args[2:], true
	case base == "kubectl-oidc" && len(args) >= 1 && args[0] == "get-token":
		return args[1:], true
	}
	return nil, false
}

// parseLoginArgs parses get-token flags as get-token would; the flag set
// tells which were given.
func parseLoginArgs(args []string) (login.Options, *pflag.FlagSet, error) {
	var o login.Options
	fs := newLoginFlags(&o)
	fs.Usage = func() {}
	fs.SetOutput(io.Discard)
	if err := fs.Parse(args); err != nil {
		return login.Options{}, nil, err
	}
	if fs.NArg() > 0 {
		return login.Options{}, nil, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	return o, fs, nil
}
