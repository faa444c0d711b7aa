// Command oidc-proxy is a reverse proxy in front of a Kubernetes API server
// that authenticates OIDC bearer tokens exactly as kube-apiserver would and
// forwards each request impersonating the authenticated user. It keeps the
// flag names of jetstack's kube-oidc-proxy.
package main

import (
	"context"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/spf13/cobra"
	cliflag "k8s.io/component-base/cli/flag"

	"github.com/kube-oidc/kube-oidc/internal/version"
	"github.com/kube-oidc/kube-oidc/pkg/discovery"
	"github.com/kube-oidc/kube-oidc/pkg/proxy"
	"github.com/kube-oidc/kube-oidc/pkg/proxy/authn"
	"github.com/kube-oidc/kube-oidc/pkg/proxy/logging"
	"github.com/kube-oidc/kube-oidc/pkg/proxy/server"
	"github.com/kube-oidc/kube-oidc/pkg/proxy/tracing"
	"github.com/kube-oidc/kube-oidc/pkg/proxy/web"
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
	proxyOpts := server.NewOptions()
	authnOpts := authn.NewOptions()
	discoveryOpts := discovery.NewOptions()
	webOpts := web.NewOptions()
	gcOpts := newGCOptions()
	logOpts := logging.NewOptions()
	tracingOpts := tracing.NewOptions()
	cmd := &cobra.Command{
		Use:   "oidc-proxy",
		Short: "Authenticate OIDC tokens for a Kubernetes API server and forward requests with impersonation",
		Long: `oidc-proxy sits in front of a Kubernetes API server. It verifies each request's
OIDC bearer token exactly as kube-apiserver would (--oidc-* flags or
--authentication-config), removes every identity header the client sent, and
forwards the request with its own credentials (--kubeconfig, kubectl's client
flags, or the in-cluster service account) plus Impersonate-* headers for the
authenticated user. A client's own Impersonate-* headers (kubectl --as) are
authorised as kube-apiserver 1.36+ authorises them (constrained impersonation, then
legacy, by SubjectAccessReview) and the impersonated identity is forwarded. Flag
names follow kube-apiserver and jetstack's kube-oidc-proxy.`,
		Version:       version.Version,
		Args:          cobra.NoArgs,
		SilenceUsage:  true,
		SilenceErrors: true,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return run(cmd.Context(), proxyOpts, authnOpts, discoveryOpts, webOpts, gcOpts, logOpts, tracingOpts, stderr)
		},
	}
	cmd.SetOut(stdout)
	cmd.SetErr(stderr)
	cmd.SetVersionTemplate(versionLine() + "\n")

	var fss cliflag.NamedFlagSets
	proxyOpts.AddServingFlags(fss.FlagSet("secure serving"))
	authnOpts.AddFlags(fss.FlagSet("authentication"))
	proxyOpts.AddUpstreamFlags(fss.FlagSet("API server (the proxy's own credentials)"))
	proxyOpts.Modes.AddFlags(fss.FlagSet("impersonation, passthrough and extra headers"))
	proxyOpts.Modes.AddAuditFlags(fss.FlagSet("audit (kube-apiserver flags)"))
	proxyOpts.AddOperationsFlags(fss.FlagSet("operations"))
	gcOpts.AddFlags(fss.FlagSet("operations"))
	logOpts.AddFlags(fss.FlagSet("logging"))
	tracingOpts.AddFlags(fss.FlagSet("tracing"))
	discoveryOpts.AddFlags(fss.FlagSet("discovery (public settings for kubectl oidc setup)"))
	webOpts.AddFlags(fss.FlagSet("sign-in page (opt-in, needs discovery)"))
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
			fmt.Fprintln(cmd.OutOrStdout(), versionLine())
		},
	})
	return cmd
}

func run(ctx context.Context, proxyOpts *server.Options, authnOpts *authn.Options, discoveryOpts *discovery.Options,
	webOpts *web.Options, gcOpts *gcOptions, logOpts *logging.Options, tracingOpts *tracing.Options, stderr io.Writer) error {
	errs := append(proxyOpts.Validate(), authnOpts.Validate()...)
	errs = append(errs, gcOpts.Validate()...)
	errs = append(errs, webOpts.Validate()...)
	errs = append(errs, logOpts.Validate()...)
	errs = append(errs, tracingOpts.Validate()...)
	if discoveryOpts.Enabled() && discoveryOpts.IssuerURL == "" && authnOpts.IssuerURL == "" {
		errs = append(errs, errors.New("--discovery-client-id needs --discovery-issuer-url when the issuer is not given with --oidc-issuer-url"))
	}
	if webOpts.Enabled() && !discoveryOpts.Enabled() {
		errs = append(errs, errors.New("--web-client-id needs --discovery-client-id: the page hands out the setup command and kubeconfig of the discovery document"))
	}
	if len(errs) > 0 {
		return fmt.Errorf("invalid flags: %w", errors.Join(errs...))
	}
	// Buffered (flushed within 100ms): one write syscall per access-log line
	// costs more than the rest of a cache-hit request. The access log and
	// the program's own log share it, each line written whole.
	logOut := proxy.NewDelayedWriter(stderr, 64<<10, 100*time.Millisecond)
	defer logOut.Flush()
	// The program's log, with the Kubernetes libraries' klog lines.
	log, restoreKlog := logOpts.New(logOut)
	defer restoreKlog()
	authnOpts.Logger = log
	logFIPSMode(log)
	tp, err := tracingOpts.New(ctx)
	if err != nil {
		return err
	}
	if tp != nil {
		defer func() {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			if err := tracing.Shutdown(ctx, tp); err != nil {
				log.Warn("tracing: spans not exported at exit", "err", err)
			}
		}()
		proxyOpts.TracerProvider, authnOpts.TracerProvider = tp, tp
		log.Info("tracing on", "config", tracingOpts.ConfigFile)
	}
	defer gcOpts.start(log)()
	reg := prometheus.NewRegistry()
	srv := &server.Server{
		Options: proxyOpts,
		NewAuthenticator: func(ctx context.Context) (authn.Authenticator, error) {
			return authn.New(ctx, authnOpts, reg)
		},
		Registry:     reg,
		Log:          log,
		AccessLogOut: logOut,
	}
	var pages *web.Handler
	if discoveryOpts.Enabled() {
		srv.PublicFor = func(generatedChain []byte) (map[string]http.Handler, error) {
			doc, err := discoveryDocument(discoveryOpts, authnOpts, generatedChain, log)
			if err != nil {
				return nil, err
			}
			if webOpts.Enabled() {
				if pages, err = newPages(webOpts, doc, log); err != nil {
					return nil, err
				}
			}
			return discoveryHandlers(doc, log)
		}
	}
	if webOpts.Enabled() {
		srv.Pages = func(api http.Handler, servingCert func() []byte) proxy.Pages {
			return pages.UseAPI(api, servingCert)
		}
	}
	return srv.Run(ctx)
}

// newPages builds the sign-in page for the discovery document.
func newPages(o *web.Options, doc *discovery.Document, log *slog.Logger) (*web.Handler, error) {
	secret, err := o.ClientSecret()
	if err != nil {
		return nil, err
	}
	redirect, err := web.ParseRedirectURL(o.RedirectURL)
	if err != nil {
		return nil, err
	}
	h, err := web.New(web.Config{ClientID: o.ClientID, ClientSecret: secret, RedirectURL: redirect,
		ExtraScopes: o.ExtraScopes, Document: doc, Log: log})
	if err != nil {
		return nil, err
	}
	log.Info("web: serving the sign-in page", "url", redirect.Scheme+"://"+redirect.Host+"/", "clientID", o.ClientID)
	return h, nil
}

// discoveryDocument builds the public discovery document. Defaults: the
// issuer and its CA from --oidc-issuer-url and --oidc-ca-file, the proxy's
// CA from the certificate the proxy generated itself (none when the
// administrator gave --tls-cert-file: clients then use the system roots or
// --discovery-ca-file).
func discoveryDocument(o *discovery.Options, a *authn.Options, generatedChain []byte, log *slog.Logger) (*discovery.Document, error) {
	if o.IssuerCAFile == "" {
		o.IssuerCAFile = a.CAFile
	}
	var ca []byte
	if len(generatedChain) > 0 {
		cert, err := discovery.LastCertificate(generatedChain)
		if err != nil {
			return nil, fmt.Errorf("discovery: generated serving certificate: %w", err)
		}
		ca = pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cert.Raw})
		log.Info("discovery: clients can pin the proxy's generated CA", "path", discovery.Path,
			"fingerprint", discovery.Fingerprint(cert), "subject", cert.Subject.String())
	}
	return o.Document(a.IssuerURL, ca)
}

// discoveryHandlers serves doc at its public path.
func discoveryHandlers(doc *discovery.Document, log *slog.Logger) (map[string]http.Handler, error) {
	h, err := discovery.Handler(doc)
	if err != nil {
		return nil, err
	}
	log.Info("discovery: serving the public document", "path", discovery.Path, "issuer", doc.IssuerURL, "clientID", doc.ClientID)
	return map[string]http.Handler{discovery.Path: h}, nil
}
