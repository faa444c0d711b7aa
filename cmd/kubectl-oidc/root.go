package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/kube-oidc/kube-oidc/internal/flagargs"
	"github.com/kube-oidc/kube-oidc/internal/termsafe"
	"github.com/kube-oidc/kube-oidc/internal/version"
	"github.com/kube-oidc/kube-oidc/pkg/login"
)

// streams are the process's standard streams. Out carries only what a
// command is asked for (get-token: the ExecCredential JSON); everything
// meant for the person goes to Err.
type streams struct {
	In  io.Reader
	Out io.Writer
	Err io.Writer
}

// app is what the commands share: the streams, the environment, and the
// login options bound to the one login flag set.
type app struct {
	streams
	getenv     func(string) string
	opts       login.Options
	loginFlags *pflag.FlagSet
	verbosity  int
	// openBrowser replaces the default browser opener when set (tests).
	openBrowser func(ctx context.Context, url string) error
}

// run executes the command line args and returns the exit code. Every
// error ends up as one line on stderr.
func run(ctx context.Context, args []string, s streams, getenv func(string) string) int {
	a := &app{streams: s, getenv: getenv}
	root := newRoot(a)
	root.SetArgs(args)
	if err := root.ExecuteContext(ctx); err != nil {
		var exit exitCode
		if errors.As(err, &exit) {
			return int(exit) // the sibling executable has said why
		}
		termsafe.Fprintln(s.Err, "kubectl-oidc: "+oneLine(err.Error()))
		return 1
	}
	return 0
}

// exitCode is an error that ends the process with that code and prints
// nothing more.
type exitCode int

func (c exitCode) Error() string { return fmt.Sprintf("exit status %d", int(c)) }

// oneLine joins a multi-line message (some libraries wrap theirs) into one line.
func oneLine(s string) string {
	s = strings.TrimSpace(s)
	if !strings.Contains(s, "\n") {
		return s
	}
	return strings.Join(strings.Fields(strings.ReplaceAll(s, "\n", " ")), " ")
}

func newRoot(a *app) *cobra.Command {
	a.loginFlags = newLoginFlags(&a.opts)
	root := &cobra.Command{
		// The binary is kubectl-oidc; people run it as "kubectl oidc".
		Use:         "kubectl-oidc",
		Annotations: map[string]string{cobra.CommandDisplayNameAnnotation: "kubectl oidc"},
		Short:       "Log in to Kubernetes clusters with OpenID Connect",
		Long: `kubectl oidc logs you in to Kubernetes clusters with OpenID Connect (OIDC).

kubectl runs "kubectl-oidc get-token" from your kubeconfig whenever it needs
a token: a valid cached token is returned at once, an expired one is
refreshed, and otherwise you sign in (browser, keyboard, device code,
password or client credentials). "kubectl oidc setup" writes such a
kubeconfig for you, from the flags or from an oidc-proxy's discovery
document.`,
		Example: `  # Write a kubeconfig context from the proxy's published settings
  kubectl oidc setup https://proxy.example.com

  # Sign in now and see who you are
  kubectl oidc login --oidc-issuer-url=https://dex.example.com --oidc-client-id=kubectl
  kubectl oidc whoami`,
		SilenceErrors:     true,
		SilenceUsage:      true,
		CompletionOptions: cobra.CompletionOptions{HiddenDefaultCmd: false},
	}
	root.SetIn(a.In)
	root.SetOut(a.Out)
	root.SetErr(a.Err)
	root.PersistentFlags().IntVarP(&a.verbosity, "v", "v", 0, "Log level: 1 and above log the HTTP exchanges with the provider (never a token or secret)")
	root.SetFlagErrorFunc(func(cmd *cobra.Command, err error) error {
		return fmt.Errorf("%w (see %s --help)", err, cmd.CommandPath())
	})

	root.AddCommand(
		newGetToken(a),
		newLogin(a),
		newLogout(a),
		newVersion(a),
	)
	root.AddCommand(kubeconfigCommands(a)...)
	return root
}

func newVersion(a *app) *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the version of kubectl-oidc",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			_, err := fmt.Fprintf(a.Out, "kubectl-oidc %s\n", version.Version)
			return err
		},
	}
}

// ui is how pkg/login talks to the person: stdin and stderr only.
func (a *app) ui(interactive bool) login.UI {
	return login.UI{In: a.In, Err: a.Err, Interactive: interactive, OpenBrowser: a.openBrowser}
}

// options returns the login options from the flags, checked.
func (a *app) options() (login.Options, error) {
	o := a.opts
	o.Verbosity = a.verbosity
	a.secretsFromEnv(&o)
	a.expandHome(&o)
	if err := o.Validate(); err != nil {
		return login.Options{}, err
	}
	return o, nil
}

// expandHome expands a leading ~ in the path flags (--token-cache-dir,
// --certificate-authority, --local-server-cert, --local-server-key,
// --kubelogin-token-cache-dir): kubectl runs exec plugins without a shell, so
// an exec stanza's "~/..." arrives as it is written.
func (a *app) expandHome(o *login.Options) {
	home := a.getenv("HOME")
	if home == "" {
		home, _ = os.UserHomeDir()
	}
	if home == "" {
		return
	}
	expand := func(p string) string {
		if p == "~" {
			return home
		}
		if rest, ok := strings.CutPrefix(p, "~/"); ok {
			return filepath.Join(home, rest)
		}
		return p
	}
	o.TokenCacheDir = expand(o.TokenCacheDir)
	o.LocalServerCertFile = expand(o.LocalServerCertFile)
	o.LocalServerKeyFile = expand(o.LocalServerKeyFile)
	o.KubeloginTokenCacheDir = expand(o.KubeloginTokenCacheDir)
	cas := make([]string, len(o.CertificateAuthority))
	for i, f := range o.CertificateAuthority {
		cas[i] = expand(f)
	}
	o.CertificateAuthority = cas
}

// secretsFromEnv fills the client secret and password that were not given
// as flags from login.EnvClientSecret and login.EnvPassword.
func (a *app) secretsFromEnv(o *login.Options) {
	if o.ClientSecret == "" {
		o.ClientSecret = a.getenv(login.EnvClientSecret)
	}
	if o.Password == "" {
		o.Password = a.getenv(login.EnvPassword)
	}
}

// loginCommandLine is the `kubectl oidc login` command line with the login
// flags that were given, for messages: --oidc-client-secret is REDACTED and
// --password left out (login asks for it on the terminal).
func (a *app) loginCommandLine() string { return loginCommandLine(a.loginFlags) }

// loginCommandLine is `kubectl oidc login` with the flags set in fs, secrets
// handled as described at app.loginCommandLine.
func loginCommandLine(fs *pflag.FlagSet) string {
	parts := []string{"kubectl", "oidc", "login"}
	for _, arg := range flagargs.Changed(fs) {
		name, _, _ := strings.Cut(arg, "=")
		switch name {
		case "--password":
			continue
		case "--oidc-client-secret":
			arg = name + "=REDACTED"
		}
		parts = append(parts, shellQuote(arg))
	}
	return strings.Join(parts, " ")
}

// shellQuote quotes s for a POSIX shell when it needs quoting.
func shellQuote(s string) string {
	if s != "" && strings.IndexFunc(s, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("-_=./:,@%+", r))
	}) < 0 {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
