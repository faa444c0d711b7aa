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
	"net/http"
	"os"
	"os/signal"
	"sync"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/spf13/cobra"
	cliflag "k8s.io/component-base/cli/flag"

	"github.com/kube-oidc/kube-oidc/internal/version"
	"github.com/kube-oidc/kube-oidc/pkg/discovery"
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
	discoveryOpts := discovery.NewOptions()
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
			return run(cmd.Context(), proxyOpts, authnOpts, discoveryOpts, stderr)
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
	discoveryOpts.AddFlags(fss.FlagSet("discovery (login settings for kubectl oidc setup)"))
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

func run(ctx context.Context, proxyOpts *proxy.Options, authnOpts *authn.Options, discoveryOpts *discovery.Options, stderr io.Writer) error {
	errs := append(proxyOpts.Validate(), authnOpts.Validate()...)
	if len(errs) > 0 {
		return fmt.Errorf("invalid flags: %w", errors.Join(errs...))
	}
	var servingCertFile func() string
	if proxyOpts.SecureServing.ServerCert.CertKey.CertFile == "" {
		// The server generates its certificate; Run sets the file name.
		servingCertFile = func() string { return proxyOpts.SecureServing.ServerCert.CertKey.CertFile }
	}
	public, err := publicHandlers(discoveryOpts, authnOpts.IssuerURL, servingCertFile)
	if err != nil {
		return err
	}
	// Buffered (flushed within 100ms): one write syscall per access-log line
	// costs more than the rest of a cache-hit request.
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
		Forbidden: forbiddenReason,
		NotReady:  func(err error) bool { return errors.Is(err, authn.ErrNotReady) },
		Registry:  reg,
		Log:       log,
		Public:    public,
	}
	return srv.Run(ctx)
}

// publicHandlers serves the discovery document when --discovery-client-id
// is set. The flags are checked here, at start. Without --discovery-ca-file,
// when the proxy generates its own serving certificate (no --tls-cert-file),
// the document publishes that certificate's chain; it is read at the first
// request, after the server wrote it. Otherwise it names no proxy CA
// (clients use the system roots, or the certificate they pinned).
func publicHandlers(o *discovery.Options, issuerURL string, servingCertFile func() string) (map[string]http.Handler, error) {
	if !o.Enabled() {
		return nil, nil
	}
	doc, err := o.Document(issuerURL, nil)
	if err != nil {
		return nil, err
	}
	h, err := discovery.Handler(doc)
	if err != nil {
		return nil, fmt.Errorf("discovery document: %w", err)
	}
	if o.CAFile != "" || servingCertFile == nil {
		return map[string]http.Handler{discovery.Path: h}, nil
	}
	var once sync.Once
	get := func() http.Handler {
		once.Do(func() {
			f := servingCertFile()
			if f == "" {
				return // generated in memory: nothing to publish
			}
			pem, err := os.ReadFile(f)
			if err != nil {
				return // the document without a CA is still right
			}
			if d, err := o.Document(issuerURL, pem); err == nil {
				if withCA, err := discovery.Handler(d); err == nil {
					h = withCA
				}
			}
		})
		return h
	}
	return map[string]http.Handler{discovery.Path: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		get().ServeHTTP(w, r)
	})}, nil
}

// forbiddenReason recognises authn's refusal of an identity (403, not 401).
func forbiddenReason(err error) (string, bool) {
	var fe *authn.ForbiddenIdentityError
	if errors.As(err, &fe) {
		return fe.Reason, true
	}
	return "", false
}
