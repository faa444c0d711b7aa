package setupcmd

import (
	"context"
	"fmt"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/kube-oidc/kube-oidc/internal/termsafe"
	"github.com/kube-oidc/kube-oidc/pkg/kubeconfig"
	"github.com/kube-oidc/kube-oidc/pkg/kubeconfig/legacytokens"
	"github.com/kube-oidc/kube-oidc/pkg/login"
	"github.com/kube-oidc/kube-oidc/pkg/login/tokencache"
)

type convertFlags struct {
	kubeconfig    string
	dryRun        bool
	cacheStorage  string
	cacheDir      string
	secretStorage string
}

// KeyFunc returns the token cache key get-token computes for a converted
// user's flags.
type KeyFunc func(l kubeconfig.Legacy) (tokencache.Key, error)

// NewConvert returns `convert`; keyFor nil means DefaultKey.
func NewConvert(keyFor KeyFunc) *cobra.Command {
	if keyFor == nil {
		keyFor = DefaultKey
	}
	f := &convertFlags{}
	cmd := &cobra.Command{
		Use:   "convert",
		Short: "Rewrite auth-provider oidc and kubelogin users into kubectl oidc exec users",
		Long: `kubectl 1.26 removed the "auth-provider: oidc" users (the ones the
kube-oidc-proxy README tells you to write). convert rewrites each of them
into a user that runs "kubectl oidc get-token" with the same issuer, client
ID, client secret, extra scopes and identity provider CA, and moves the
stored refresh token and ID token into the token cache, so nobody has to
log in again.

It also rewrites the users whose exec stanza runs kubelogin
("kubectl oidc-login get-token ...", "kubelogin get-token ...") into
kubectl-oidc users with the same flags; their first get-token imports
kubelogin's cached tokens, so nobody logs in again either
(docs/migrating-from-kubelogin.md). The client secret and password move
from the arguments into the exec stanza's env, or with
--secret-storage=keyring into OS keyring items that the exec stanza names.
Other users are left alone.

It converts every kubeconfig file kubectl reads: --kubeconfig, else each
file of KUBECONFIG, else ~/.kube/config. With --dry-run it prints the
change as a diff (secrets shown as REDACTED) and changes nothing.`,
		Example: `  kubectl oidc convert --dry-run
  kubectl oidc convert`,
		Args:         cobra.NoArgs,
		SilenceUsage: true,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runConvert(cmd.Context(), cmd, f, keyFor)
		},
	}
	fs := cmd.Flags()
	fs.StringVar(&f.kubeconfig, "kubeconfig", "", "Kubeconfig file to convert (default: every file of KUBECONFIG, else ~/.kube/config)")
	fs.BoolVar(&f.dryRun, "dry-run", false, "Print the change as a diff instead of making it")
	fs.StringVar(&f.cacheStorage, "token-cache-storage", tokencache.KindAuto, "Where to keep the moved tokens: auto, keyring, disk or none (written into the converted users when set)")
	fs.StringVar(&f.secretStorage, "secret-storage", kubeconfig.SecretStorageKubeconfig, secretStorageHelp)
	fs.StringVar(&f.cacheDir, "token-cache-dir", "", "Directory of the disk token cache (default: ~/.kube/cache/oidc, or $KUBECACHEDIR/oidc; written into the converted users when set)")
	return cmd
}

func runConvert(ctx context.Context, cmd *cobra.Command, f *convertFlags, keyFor KeyFunc) error {
	if ctx == nil {
		ctx = context.Background()
	}
	stderr := cmd.ErrOrStderr()
	var extra []string
	fs := cmd.Flags()
	if fs.Changed("token-cache-dir") {
		extra = append(extra, "--token-cache-dir="+f.cacheDir)
	}
	if fs.Changed("token-cache-storage") {
		extra = append(extra, "--token-cache-storage="+f.cacheStorage)
	}
	if err := checkSecretStorage(f.secretStorage); err != nil {
		return err
	}
	opts := kubeconfig.ConvertOptions{Paths: kubeconfig.Files(f.kubeconfig), ExtraArgs: extra, DryRun: f.dryRun}
	if f.secretStorage == kubeconfig.SecretStorageKeyring {
		opts.StoreSecret = login.StoreSecret
	}
	if home, err := os.UserHomeDir(); err == nil {
		opts.KubeloginDefaultDir = tokencache.KubeloginDefaultDir(os.Getenv, home)
	}
	if !f.dryRun {
		if f.cacheStorage == tokencache.KindNone {
			fmt.Fprintln(stderr, "Warning: --token-cache-storage=none: the stored tokens are dropped and each user logs in again.")
		}
		storage, err := tokencache.New(ctx, f.cacheStorage, f.cacheDir, stderr)
		if err != nil {
			return fmt.Errorf("token cache: %w", err)
		}
		opts.Mover = legacytokens.Mover{Storage: storage, KeyFor: keyFor}
	}
	reports, err := kubeconfig.ConvertFiles(ctx, opts)
	printConvertReports(cmd, reports, f.dryRun)
	if err != nil {
		return err
	}
	total := 0
	for _, r := range reports {
		total += len(r.Converted)
	}
	if total == 0 {
		fmt.Fprintf(stderr, "No auth-provider oidc or kubelogin users in %s; nothing to convert.\n", strings.Join(opts.Paths, ", "))
	}
	return nil
}

func printConvertReports(cmd *cobra.Command, reports []kubeconfig.FileReport, dryRun bool) {
	stderr := cmd.ErrOrStderr()
	for _, r := range reports {
		for _, s := range r.Skipped {
			termsafe.Fprintf(stderr, "%s: user %q left as it is: %s\n", r.Path, s.UserName, s.Reason)
		}
		if dryRun {
			fmt.Fprint(cmd.OutOrStdout(), r.Diff)
			continue
		}
		moved := map[string]bool{}
		for _, u := range r.TokensMoved {
			moved[u] = true
		}
		for _, c := range r.Converted {
			note := "no stored tokens; it logs in on first use"
			switch {
			case c.Kubelogin:
				note = "from kubelogin; its first get-token imports kubelogin's cached tokens"
				if len(c.Dropped) > 0 {
					note += "; logging flags left out: " + strings.Join(c.Dropped, " ")
				}
			case moved[c.Legacy.UserName]:
				note = "tokens moved to the token cache"
			}
			if !r.Written {
				note += " (file not written)"
			}
			termsafe.Fprintf(stderr, "%s: converted user %q (%s)\n", r.Path, c.Legacy.UserName, note)
		}
	}
}

// DefaultKey is the key get-token computes for a converted user: pkg/login's
// own CacheKey for the settings Legacy.GetTokenArgs writes (no --grant-type,
// so auto; the CA file or data as given). TestConvertedUserNeedsNoLogin
// proves the match through the real plugin.
func DefaultKey(l kubeconfig.Legacy) (tokencache.Key, error) {
	o := login.Options{
		IssuerURL:    l.IssuerURL,
		ClientID:     l.ClientID,
		ClientSecret: l.ClientSecret,
		ExtraScopes:  l.ExtraScopes,
	}
	if l.CAFile != "" {
		o.CertificateAuthority = []string{l.CAFile}
	}
	if l.CADataRaw != "" {
		o.CertificateAuthorityData = []string{l.CADataRaw}
	}
	return o.CacheKey()
}
