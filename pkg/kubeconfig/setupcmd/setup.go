// Package setupcmd is the cobra commands `kubectl oidc setup` and
// `kubectl oidc convert`: flags to pkg/kubeconfig and pkg/discovery.
package setupcmd

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"golang.org/x/term"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"

	"github.com/kube-oidc/kube-oidc/internal/flagargs"
	"github.com/kube-oidc/kube-oidc/internal/termsafe"
	"github.com/kube-oidc/kube-oidc/pkg/discovery"
	"github.com/kube-oidc/kube-oidc/pkg/kubeconfig"
	"github.com/kube-oidc/kube-oidc/pkg/login"
)

// setupFlags are setup's own flags; the get-token login flags live in a
// separate flag set so that exactly the ones the person set are written.
type setupFlags struct {
	kubeconfig string

	server                   string
	serverCA                 string
	serverCAData             string
	serverInsecureSkipVerify bool
	serverTLSServerName      string
	caFingerprint            string

	clusterName       string
	userName          string
	contextName       string
	namespace         string
	setCurrentContext bool

	secretStorage string

	overwrite      bool
	yes            bool
	dryRun         bool
	output         string
	skipValidation bool
}

// NewSetup returns `setup`. loginFlags holds get-token's login flags
// (pkg/login's Options.AddFlags); the ones the person sets are written into
// the exec stanza.
func NewSetup(loginFlags *pflag.FlagSet) *cobra.Command {
	f := &setupFlags{}

	cmd := &cobra.Command{
		Use:   "setup [PROXY_URL]",
		Short: "Write a kubeconfig context that logs in with kubectl oidc",
		Long: `Write a cluster, a user and a context into your kubeconfig. The user runs
"kubectl oidc get-token" with exactly the login flags you give here.

With PROXY_URL, the login settings (issuer, client ID, scopes, grant type,
cluster name and CA bundles) come from the oidc-proxy's public discovery
document at PROXY_URL` + discovery.Path + `. The proxy's certificate is
checked against --server-certificate-authority when given; otherwise you
confirm its SHA-256 fingerprint on the terminal, or pass --ca-fingerprint.
Flags you give override the document.

The file is the one kubectl writes: --kubeconfig, else the first existing
file of KUBECONFIG, else ~/.kube/config. Other entries are left alone, the
file mode is kept and the file is replaced atomically. After writing, setup
logs in and asks the cluster who you are (SelfSubjectReview) unless
--skip-validation.

A client secret or password never goes into the exec arguments (visible in
ps): it goes into the exec stanza's env, or with --secret-storage=keyring
into an OS keyring item whose name the stanza passes to get-token.`,
		Example: `  # Everything from the proxy, trusting its certificate by fingerprint
  kubectl oidc setup https://proxy.example.com --ca-fingerprint sha256:6b0c...

  # By hand
  kubectl oidc setup --server https://proxy.example.com \
    --server-certificate-authority proxy-ca.pem \
    --oidc-issuer-url https://dex.example.com --oidc-client-id kubectl \
    --oidc-extra-scope email --oidc-extra-scope groups

  # A confidential client whose secret stays in the OS keyring
  kubectl oidc setup https://proxy.example.com --oidc-client-secret "$SECRET" --secret-storage=keyring

  # Show the result without writing it
  kubectl oidc setup https://proxy.example.com --dry-run -o yaml`,
		Args:         cobra.MaximumNArgs(1),
		SilenceUsage: true,
		RunE: func(cmd *cobra.Command, args []string) error {
			proxyURL := ""
			if len(args) == 1 {
				proxyURL = args[0]
			}
			return runSetup(cmd.Context(), cmd, f, loginFlags, proxyURL)
		},
	}
	fs := cmd.Flags()
	fs.StringVar(&f.kubeconfig, "kubeconfig", "", "Kubeconfig file to write (default: the first existing file of KUBECONFIG, else ~/.kube/config)")
	fs.StringVar(&f.server, "server", "", "URL of the cluster's API server or oidc-proxy (default: PROXY_URL)")
	fs.StringVar(&f.serverCA, "server-certificate-authority", "", "PEM file of the CA that signs the server's certificate (path written to the kubeconfig)")
	fs.StringVar(&f.serverCAData, "server-certificate-authority-data", "", "Base64 PEM of the CA that signs the server's certificate (embedded in the kubeconfig)")
	fs.BoolVar(&f.serverInsecureSkipVerify, "server-insecure-skip-tls-verify", false, "Do not verify the server's certificate (insecure; not with PROXY_URL)")
	fs.StringVar(&f.serverTLSServerName, "server-tls-server-name", "", "Server name to verify the server's certificate against")
	fs.StringVar(&f.caFingerprint, "ca-fingerprint", "", "Trust the proxy whose certificate chain contains the certificate with this SHA-256 fingerprint (sha256:HEX), instead of asking")
	fs.StringVar(&f.clusterName, "cluster-name", "", "Name of the kubeconfig cluster (default: the proxy's cluster name, else the server's host)")
	fs.StringVar(&f.userName, "user-name", "", "Name of the kubeconfig user (default: oidc-CLUSTER)")
	fs.StringVar(&f.contextName, "context-name", "", "Name of the kubeconfig context (default: CLUSTER)")
	fs.StringVar(&f.namespace, "namespace", "", "Default namespace of the context")
	fs.BoolVar(&f.setCurrentContext, "set-current-context", true, "Make the new context the current one")
	fs.BoolVar(&f.overwrite, "overwrite", false, "Replace a cluster, user or context of the same name that has other settings")
	fs.BoolVarP(&f.yes, "yes", "y", false, "Do not ask before writing and logging in: you checked the server, issuer and client setup shows (required when stdin is not a terminal)")
	fs.BoolVar(&f.dryRun, "dry-run", false, "Print the resulting kubeconfig instead of writing it")
	fs.StringVarP(&f.output, "output", "o", "yaml", "Format of --dry-run output: yaml or json")
	fs.StringVar(&f.secretStorage, "secret-storage", kubeconfig.SecretStorageKubeconfig, secretStorageHelp)
	fs.BoolVar(&f.skipValidation, "skip-validation", false, "Do not log in and check the new context with a SelfSubjectReview")
	fs.AddFlagSet(loginFlags)
	return cmd
}

func runSetup(ctx context.Context, cmd *cobra.Command, f *setupFlags, loginFlags *pflag.FlagSet, proxyURL string) error {
	if ctx == nil {
		ctx = context.Background()
	}
	stderr := cmd.ErrOrStderr()
	server := f.server
	if proxyURL != "" {
		if server != "" && strings.TrimSuffix(server, "/") != strings.TrimSuffix(proxyURL, "/") {
			return fmt.Errorf("PROXY_URL %s and --server %s differ; give one of them", proxyURL, server)
		}
		server = proxyURL
	}
	if server == "" {
		return errors.New("no server: give the proxy's URL (kubectl oidc setup https://PROXY) or --server")
	}
	if f.serverCA != "" && f.serverCAData != "" {
		return errors.New("give --server-certificate-authority or --server-certificate-authority-data, not both")
	}
	serverCAPEM, err := readServerCA(f)
	if err != nil {
		return err
	}
	if err := checkSecretStorage(f.secretStorage); err != nil {
		return err
	}
	if f.output != "yaml" && f.output != "json" {
		return fmt.Errorf("unknown --output %q: use yaml or json", f.output)
	}

	cluster := &clientcmdapi.Cluster{
		Server:                server,
		TLSServerName:         f.serverTLSServerName,
		InsecureSkipTLSVerify: f.serverInsecureSkipVerify,
	}
	if f.serverCA != "" {
		abs, err := filepath.Abs(f.serverCA)
		if err != nil {
			return fmt.Errorf("--server-certificate-authority: %w", err)
		}
		cluster.CertificateAuthority = abs
	} else if len(serverCAPEM) > 0 {
		cluster.CertificateAuthorityData = serverCAPEM
	}

	args := flagargs.Changed(loginFlags)
	clusterName := f.clusterName
	if proxyURL != "" {
		if f.serverInsecureSkipVerify {
			return errors.New("--server-insecure-skip-tls-verify cannot be used with PROXY_URL: pass --ca-fingerprint or --server-certificate-authority")
		}
		res, err := discovery.Fetch(ctx, proxyURL, discovery.Trust{
			CAPEM:       serverCAPEM,
			Fingerprint: f.caFingerprint,
			Confirm:     terminalConfirm(cmd.InOrStdin(), stderr, proxyURL),
			ServerName:  f.serverTLSServerName,
		})
		if err != nil {
			return fmt.Errorf("discover login settings from %s: %w", proxyURL, err)
		}
		if f.serverCA == "" {
			cluster.CertificateAuthorityData = res.ServerCAPEM
		}
		args = kubeconfig.MergeArgs(args, kubeconfig.DocumentArgs(res.Document))
		if clusterName == "" {
			clusterName = res.Document.ClusterName
		}
		termsafe.Fprintf(stderr, "Using the login settings of %s: issuer %s, client %s\n", proxyURL, res.Document.IssuerURL, res.Document.ClientID)
	} else if f.caFingerprint != "" {
		return errors.New("--ca-fingerprint needs PROXY_URL (it checks the proxy on first contact)")
	}
	if !kubeconfig.HasArg(args, "--oidc-issuer-url") || !kubeconfig.HasArg(args, "--oidc-client-id") {
		return errors.New("--oidc-issuer-url and --oidc-client-id are required (or give the proxy's URL to discover them)")
	}
	if kubeconfig.HasArg(args, "--password") && f.secretStorage == kubeconfig.SecretStorageKubeconfig {
		termsafe.Fprintf(stderr, "Warning: the password is written into the kubeconfig in clear text (the exec stanza's env %s, not its arguments); leave --password out to be asked when logging in.\n", kubeconfig.EnvPassword)
	}

	clusterName, userName, contextName := kubeconfig.SetupNames(server, clusterName, f.userName, f.contextName)
	path, err := kubeconfig.Target(f.kubeconfig)
	if err != nil {
		return err
	}
	issuer, clientID, audience := kubeconfig.ArgValue(args, "--oidc-issuer-url"), kubeconfig.ArgValue(args, "--oidc-client-id"), kubeconfig.ArgValue(args, "--oidc-audience")
	twins := kubeconfig.TokenTwins(kubeconfig.Files(f.kubeconfig), issuer, clientID, audience, server)
	for _, tw := range twins {
		termsafe.Fprintf(stderr, "Warning: context %q (user %q in %s) already sends ID tokens of issuer %s for client %s to %s. "+
			"Both servers accept the same tokens, so if %s is not the cluster you expect, it can use your tokens at %s.\n",
			tw.Context, tw.User, tw.File, issuer, clientID, tw.Server, server, tw.Server)
	}
	if !f.dryRun {
		if err := confirmSetup(cmd.InOrStdin(), stderr, f, server, issuer, clientID, contextName, path); err != nil {
			return err
		}
	}
	user := kubeconfig.SetupUser(args)
	if err := secretsToKeyring(user.Exec, f.secretStorage, f.dryRun); err != nil {
		return err
	}
	res, err := kubeconfig.Setup(kubeconfig.SetupOptions{
		Path: path,
		Entries: kubeconfig.Entries{
			ClusterName:       clusterName,
			Cluster:           cluster,
			UserName:          userName,
			User:              user,
			ContextName:       contextName,
			Context:           &clientcmdapi.Context{Cluster: clusterName, AuthInfo: userName, Namespace: f.namespace},
			SetCurrentContext: f.setCurrentContext,
		},
		Overwrite: f.overwrite,
		DryRun:    f.dryRun,
		Output:    f.output,
	})
	if err != nil {
		return err
	}
	if f.dryRun {
		_, err := cmd.OutOrStdout().Write(res.Output)
		return err
	}
	if res.Changed {
		termsafe.Fprintf(stderr, "Wrote cluster %q, user %q and context %q to %s\n", clusterName, userName, contextName, path)
	} else {
		termsafe.Fprintf(stderr, "%s already has cluster %q, user %q and context %q; nothing to change\n", path, clusterName, userName, contextName)
	}
	if f.skipValidation {
		return nil
	}
	termsafe.Fprintf(stderr, "Logging in through context %q to check it (skip with --skip-validation)...\n", contextName)
	who, err := kubeconfig.Validate(ctx, path, contextName)
	if err != nil {
		return fmt.Errorf("the kubeconfig was written, but checking context %q failed: %w; fix the settings (run again with --overwrite) or check with `kubectl --context %s auth whoami`", contextName, err, contextName)
	}
	termsafe.Fprintf(stderr, "Context %q works: the cluster sees you as %q", contextName, who.Username)
	if len(who.Groups) > 0 {
		termsafe.Fprintf(stderr, " (groups: %s)", strings.Join(who.Groups, ", "))
	}
	fmt.Fprintln(stderr)
	return nil
}

// confirmSetup shows what the new context trusts (the server that gets the
// tokens, the issuer that signs the person in, the client) and asks on a
// terminal; --yes skips the question, and without a terminal it is required.
func confirmSetup(in io.Reader, out io.Writer, f *setupFlags, server, issuer, clientID, contextName, path string) error {
	termsafe.Fprintf(out, "Context %q in %s:\n  server: %s\n  issuer: %s\n  client: %s\n", contextName, path, server, issuer, clientID)
	if f.yes {
		return nil
	}
	if !isTerminal(in) {
		return errors.New("setup needs your confirmation of the server, issuer and client above, and stdin is not a terminal: check them and run again with --yes")
	}
	question := "Write this context and log in to check it? [y/N] "
	if f.skipValidation {
		question = "Write this context? [y/N] "
	}
	fmt.Fprint(out, "Tokens of this issuer and client will be sent to the server above. "+question)
	line, err := readLine(in)
	if err != nil {
		return fmt.Errorf("read answer: %w", err)
	}
	switch strings.ToLower(strings.TrimSpace(line)) {
	case "y", "yes":
		return nil
	}
	return errors.New("setup cancelled: nothing written, no login")
}

func isTerminal(in io.Reader) bool {
	file, ok := in.(*os.File)
	return ok && term.IsTerminal(int(file.Fd()))
}

// secretStorageHelp is the help of setup's and convert's --secret-storage.
const secretStorageHelp = "Where the client secret and password go: kubeconfig (the exec stanza's env, clear text in the file) or keyring (OS keyring items of service \"" + login.SecretKeyringService + "\"; the exec stanza names the item with --oidc-client-secret-keyring / --password-keyring)"

func checkSecretStorage(s string) error {
	if s != kubeconfig.SecretStorageKubeconfig && s != kubeconfig.SecretStorageKeyring {
		return fmt.Errorf("unknown --secret-storage %q: use kubeconfig or keyring", s)
	}
	return nil
}

// secretsToKeyring moves the secrets of e into the OS keyring with
// --secret-storage=keyring (nothing is stored for a dry run).
func secretsToKeyring(e *clientcmdapi.ExecConfig, storage string, dryRun bool) error {
	if storage != kubeconfig.SecretStorageKeyring {
		return nil
	}
	store := login.StoreSecret
	if dryRun {
		store = func(string, string) error { return nil }
	}
	if err := kubeconfig.SecretsToKeyring(e, store); err != nil {
		return fmt.Errorf("--secret-storage=keyring: %w (or use --secret-storage=kubeconfig)", err)
	}
	return nil
}

func readServerCA(f *setupFlags) ([]byte, error) {
	switch {
	case f.serverCA != "":
		data, err := os.ReadFile(f.serverCA)
		if err != nil {
			return nil, fmt.Errorf("--server-certificate-authority: %w", err)
		}
		return data, nil
	case f.serverCAData != "":
		data, err := base64.StdEncoding.DecodeString(strings.TrimSpace(f.serverCAData))
		if err != nil {
			return nil, errors.New("--server-certificate-authority-data is not valid base64 (give the PEM file's contents base64-encoded, as in a kubeconfig)")
		}
		return data, nil
	}
	return nil, nil
}

// terminalConfirm returns a Confirm that shows the certificate and asks on
// the terminal, or nil when stdin is not a terminal (Fetch then refuses
// with a line saying to pass --ca-fingerprint).
func terminalConfirm(in io.Reader, out io.Writer, proxyURL string) func(context.Context, discovery.CertInfo) (bool, error) {
	file, ok := in.(*os.File)
	if !ok || !term.IsTerminal(int(file.Fd())) {
		return nil
	}
	return func(_ context.Context, c discovery.CertInfo) (bool, error) {
		return promptTrust(in, out, proxyURL, c)
	}
}

func promptTrust(in io.Reader, out io.Writer, proxyURL string, c discovery.CertInfo) (bool, error) {
	kind := "issued by " + c.Issuer
	if c.SelfSigned {
		kind = "self-signed"
	}
	termsafe.Fprintf(out, "The proxy at %s is not verified by a CA you gave.\n", proxyURL)
	termsafe.Fprintf(out, "It presented the certificate %q (%s, valid until %s) with the fingerprint\n\n  %s\n\n",
		c.Subject, kind, c.NotAfter.UTC().Format("2006-01-02"), c.Fingerprint)
	fmt.Fprint(out, "Compare it with the fingerprint your cluster administrator published. Trust it? [y/N] ")
	line, err := readLine(in)
	if err != nil {
		return false, fmt.Errorf("read answer: %w", err)
	}
	switch strings.ToLower(strings.TrimSpace(line)) {
	case "y", "yes":
		return true, nil
	}
	return false, nil
}

// readLine reads up to a newline one byte at a time, so that nothing typed
// after it is taken from stdin (the login that follows may read it).
func readLine(in io.Reader) (string, error) {
	var b strings.Builder
	buf := make([]byte, 1)
	for b.Len() < 1024 {
		n, err := in.Read(buf)
		if n == 1 {
			if buf[0] == '\n' {
				break
			}
			b.WriteByte(buf[0])
		}
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return "", err
		}
	}
	return b.String(), nil
}
