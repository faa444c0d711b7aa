package kubeconfig

import (
	"encoding/base64"
	"errors"
	"fmt"
	"sort"
	"strings"

	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

// Keys of the removed `auth-provider: oidc` user config (k8s.io/client-go
// plugin/pkg/client/auth/oidc, gone since kubectl 1.26).
const (
	legacyProviderName   = "oidc"
	cfgIssuerURL         = "idp-issuer-url"
	cfgClientID          = "client-id"
	cfgClientSecret      = "client-secret"
	cfgExtraScopes       = "extra-scopes"
	cfgCertAuthority     = "idp-certificate-authority"
	cfgCertAuthorityData = "idp-certificate-authority-data"
	cfgRefreshToken      = "refresh-token"
	cfgIDToken           = "id-token"
)

// Legacy is the settings of one auth-provider oidc user. It holds secrets:
// never print it.
type Legacy struct {
	UserName     string
	IssuerURL    string
	ClientID     string
	ClientSecret string
	ExtraScopes  []string
	// CAFile is idp-certificate-authority; CAData the decoded PEM of
	// idp-certificate-authority-data, and CADataRaw its base64 as written.
	CAFile    string
	CAData    []byte
	CADataRaw string
	// RefreshToken and IDToken are the stored tokens, possibly empty.
	RefreshToken string
	IDToken      string
}

// GetTokenArgs returns the `kubectl oidc get-token` flags with the same
// settings, extra appended (flags given to convert, e.g. --token-cache-storage).
func (l Legacy) GetTokenArgs(extra []string) []string {
	args := []string{
		"--oidc-issuer-url=" + l.IssuerURL,
		"--oidc-client-id=" + l.ClientID,
	}
	if l.ClientSecret != "" {
		args = append(args, "--oidc-client-secret="+l.ClientSecret)
	}
	for _, s := range l.ExtraScopes {
		args = append(args, "--oidc-extra-scope="+s)
	}
	if l.CAFile != "" {
		args = append(args, "--certificate-authority="+l.CAFile)
	}
	if l.CADataRaw != "" {
		args = append(args, "--certificate-authority-data="+l.CADataRaw)
	}
	return append(args, extra...)
}

// Skipped is an auth-provider oidc user that could not be converted.
type Skipped struct {
	UserName string
	Reason   string
}

// Converted is one rewritten user.
type Converted struct {
	// Legacy is the auth-provider user's settings; only UserName for a
	// kubelogin user.
	Legacy Legacy
	// Args are the get-token flags written into the exec stanza (secrets
	// included; the stanza has them in env).
	Args []string
	// Kubelogin: the user ran kubelogin's get-token; its cached tokens are
	// imported by the first get-token.
	Kubelogin bool
	// Dropped are kubelogin's logging flags left out.
	Dropped []string
}

// Convert rewrites every `auth-provider: oidc` user of cfg, and every user
// whose exec stanza runs kubelogin's get-token, into an exec user of this
// plugin with the same settings (extra appended to each exec stanza's
// get-token flags), in name order. Other users are left alone; a user that
// cannot be converted (an oidc user lacking idp-issuer-url or client-id, a
// kubelogin stanza with a flag kubelogin does not have) is left alone and
// reported in skipped. kubeloginDefaultDir is kubelogin's default token
// cache directory (see convertKubeloginUser).
func Convert(cfg *clientcmdapi.Config, extra []string, kubeloginDefaultDir string) (converted []Converted, skipped []Skipped) {
	names := make([]string, 0, len(cfg.AuthInfos))
	for name, u := range cfg.AuthInfos {
		if u == nil {
			continue
		}
		_, kubelogin := kubeloginGetTokenArgs(u.Exec)
		if kubelogin || (u.AuthProvider != nil && u.AuthProvider.Name == legacyProviderName) {
			names = append(names, name)
		}
	}
	sort.Strings(names)
	for _, name := range names {
		u := cfg.AuthInfos[name]
		if args, ok := kubeloginGetTokenArgs(u.Exec); ok {
			if u.AuthProvider != nil {
				skipped = append(skipped, Skipped{UserName: name, Reason: "it has both auth-provider and exec"})
				continue
			}
			c, err := convertKubeloginUser(name, u, args, extra, kubeloginDefaultDir)
			if err != nil {
				skipped = append(skipped, Skipped{UserName: name, Reason: err.Error()})
				continue
			}
			converted = append(converted, c)
			continue
		}
		l, err := parseLegacy(name, u.AuthProvider.Config)
		if err != nil {
			skipped = append(skipped, Skipped{UserName: name, Reason: err.Error()})
			continue
		}
		args := l.GetTokenArgs(extra)
		exec := ExecUser(args).Exec
		if u.Exec != nil {
			skipped = append(skipped, Skipped{UserName: name, Reason: "it has both auth-provider and exec"})
			continue
		}
		u.AuthProvider = nil
		u.Exec = exec
		converted = append(converted, Converted{Legacy: l, Args: args})
	}
	return converted, skipped
}

func parseLegacy(name string, c map[string]string) (Legacy, error) {
	l := Legacy{
		UserName:     name,
		IssuerURL:    strings.TrimSpace(c[cfgIssuerURL]),
		ClientID:     strings.TrimSpace(c[cfgClientID]),
		ClientSecret: c[cfgClientSecret],
		CAFile:       c[cfgCertAuthority],
		CADataRaw:    strings.TrimSpace(c[cfgCertAuthorityData]),
		RefreshToken: c[cfgRefreshToken],
		IDToken:      c[cfgIDToken],
	}
	var errs []error
	if l.IssuerURL == "" {
		errs = append(errs, errors.New(cfgIssuerURL+" is missing"))
	}
	if l.ClientID == "" {
		errs = append(errs, errors.New(cfgClientID+" is missing"))
	}
	for _, s := range strings.Split(c[cfgExtraScopes], ",") {
		if s = strings.TrimSpace(s); s != "" {
			l.ExtraScopes = append(l.ExtraScopes, s)
		}
	}
	if l.CADataRaw != "" {
		data, err := base64.StdEncoding.DecodeString(l.CADataRaw)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s is not valid base64", cfgCertAuthorityData))
		}
		l.CAData = data
		// The legacy plugin's CAData took precedence over CAFile (rest.TLSClientConfig).
		l.CAFile = ""
	}
	if len(errs) > 0 {
		return Legacy{}, errors.Join(errs...)
	}
	return l, nil
}
