// Command oidc-proxy is a reverse proxy in front of a Kubernetes API server
// that authenticates OIDC bearer tokens exactly as kube-apiserver would and
// forwards each request impersonating the authenticated user. It keeps the
// flag names of jetstack's kube-oidc-proxy.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/spf13/cobra"
	cliflag "k8s.io/component-base/cli/flag"

	"github.com/kube-oidc/kube-oidc/internal/version"
	"github.com/kube-oidc/kube-oidc/pkg/proxy"
	"github.com/kube-oidc/kube-oidc/pkg/proxy/authn"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	if err := newRootCommand(os.Stdout, os.Stderr).ExecuteContext(ctx); err != nil {
		fmt.Fprintf(os.Stderr, "oidc-proxy: %v\n", err)
		os.Exit(1)
	}
}

func newRootCommand(stdout, stderr io.Writer) *cobra.Command {
	proxyOpts := proxy.NewOptions()
	authnOpts := authn.NewOptions()
	cmd := &cobra.Command{
		Use:   "oidc-proxy",
		Short: "Authenticate OIDC tokens for a Kubernetes API server and forward requests with impersonation",
		Long: `oidc-proxy sits in front of a Kubernetes API server. It verifies each request's
OIDC bearer token exactly as kube-apiserver would (--oidc-* flags or
--authentication-config), removes every identity header the client sent, and
forwards the request with its own credentials (--kubeconfig, kubectl's client
flags, or the in-cluster service account) plus Impersonate-* headers for the
authenticated user. Flag names follow kube-apiserver and jetstack's kube-oidc-proxy.`,
		Version:       version.Version,
		Args:          cobra.NoArgs,
		SilenceUsage:  true,
		SilenceErrors: true,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return run(cmd.Context(), proxyOpts, authnOpts, stderr)
		},
	}
	cmd.SetOut(stdout)
	cmd.SetErr(stderr)
	cmd.SetVersionTemplate("oidc-proxy {{.Version}}\n")

	var fss cliflag.NamedFlagSets
	proxyOpts.AddServingFlags(fss.FlagSet("secure serving"))
	authnOpts.AddFlags(fss.FlagSet("authentication"))
	proxyOpts.AddUpstreamFlags(fss.FlagSet("API server (the proxy's own credentials)"))
	proxyOpts.AddOperationsFlags(fss.FlagSet("operations"))
	general := fss.FlagSet("general")
	general.Bool("version", false, "Print the version and exit.")
	general.BoolP("help", "h", false, "Print this help and exit.")
	for _, name := range fss.Order {
		cmd.Flags().AddFlagSet(fss.FlagSets[name])
	}
	cliflag.SetUsageAndHelpFunc(cmd, fss, 100)

	cmd.AddCommand(&cobra.Command{
		Use:   "version",
		Short: "Print the version",
		Args:  cobra.NoArgs,
		Run: func(cmd *cobra.Command, _ []string) {
			fmt.Fprintf(cmd.OutOrStdout(), "oidc-proxy %s\n", version.Version)
		},
	})
	return cmd
}

func run(ctx context.Context, proxyOpts *proxy.Options, authnOpts *authn.Options, stderr io.Writer) error {
	errs := append(proxyOpts.Validate(), authnOpts.Validate()...)
	if len(errs) > 0 {
		return fmt.Errorf("invalid flags: %w", errors.Join(errs...))
	}
	// Buffered (flushed within 100ms): one write syscall per access-log line
	// costs more than the rest of a cache-hit request. The access log and
	// the program's own log share it, each line written whole.
	logOut := proxy.NewDelayedWriter(stderr, 64<<10, 100*time.Millisecond)
	defer logOut.Flush()
	log := slog.New(slog.NewJSONHandler(logOut, nil))
	authnOpts.Logger = log
	reg := prometheus.NewRegistry()
	srv := &proxy.Server{
		Options: proxyOpts,
		NewAuthenticator: func(ctx context.Context) (proxy.Authenticator, error) {
			return authn.New(ctx, authnOpts, reg)
		},
		Forbidden:    forbiddenReason,
		NotReady:     func(err error) bool { return errors.Is(err, authn.ErrNotReady) },
		Registry:     reg,
		Log:          log,
		AccessLogOut: logOut,
	}
	return srv.Run(ctx)
}

// forbiddenReason recognises authn's refusal of an identity (403, not 401).
func forbiddenReason(err error) (string, bool) {
	var fe *authn.ForbiddenIdentityError
	if errors.As(err, &fe) {
		return fe.Reason, true
	}
	return "", false
}
