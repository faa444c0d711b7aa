package login

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/kube-oidc/kube-oidc/pkg/login/tokencache"
)

// kubeloginKey is the key kubelogin's get-token uses for these options
// (kubelogin v1.34.0's pkg/tokencache.Key), so that its cached tokens can
// be imported: every kubelogin flag of the key has the same name and value
// here (docs/migrating-from-kubelogin.md).
func (o *Options) kubeloginKey() tokencache.KubeloginKey {
	k := tokencache.KubeloginKey{
		IssuerURL:      o.IssuerURL,
		ClientID:       o.ClientID,
		ClientSecret:   o.ClientSecret,
		ExtraScopes:    o.ExtraScopes,
		RedirectURL:    o.RedirectURL,
		UseAccessToken: o.UseAccessToken,
		RequestHeaders: o.RequestHeaders,
		CACertFilename: o.CertificateAuthority,
		CACertData:     o.CertificateAuthorityData,
		SkipTLSVerify:  o.InsecureSkipTLSVerify,
		Renegotiation:  int(o.TLSRenegotiation),
	}
	switch o.PKCEMethod {
	case PKCENo:
		k.PKCEMethod = 1
	case PKCES256:
		k.PKCEMethod = 2
	}
	if o.GrantType == GrantPassword || (o.GrantType == GrantAuto && o.Username != "") {
		k.Username = o.Username
	}
	return k
}

// kubeloginDir is where kubelogin kept its token cache for these options:
// --kubelogin-token-cache-dir, else --token-cache-dir when given (kubelogin's
// flag of the same name), else kubelogin's default.
func (s *session) kubeloginDir() string {
	if s.o.KubeloginTokenCacheDir != "" {
		return s.o.KubeloginTokenCacheDir
	}
	if s.o.TokenCacheDir != "" {
		return s.o.TokenCacheDir
	}
	home := s.env.getenv("HOME")
	if home == "" {
		home, _ = os.UserHomeDir()
	}
	return tokencache.KubeloginDefaultDir(s.env.getenv, home)
}

// importedMarker is the file in the cache directory saying that this key's
// entry was imported from kubelogin once: after a logout, kubelogin's
// entry is not imported again.
func (s *session) importedMarker() string {
	return filepath.Join(s.dir, s.key.ID()+".kubelogin-imported")
}

// importKubelogin looks for kubelogin's cache entry of these options (disk,
// or its keyring with --token-cache-storage=keyring) and, when one is found
// and holds tokens of this issuer and client, saves it as this key's entry,
// once per key. A missing entry is silent; an unusable one is one warning
// line. kubelogin's entry is left as it is.
func (s *session) importKubelogin(ctx context.Context) (tokencache.Entry, bool) {
	if s.o.TokenCacheStorage == tokencache.KindNone {
		return tokencache.Entry{}, false
	}
	if _, err := os.Lstat(s.importedMarker()); err == nil {
		return tokencache.Entry{}, false
	}
	if s.keyringSecrets() != nil {
		return tokencache.Entry{}, false // kubelogin's key holds the client secret; the sign-in reports the error
	}
	fromKeyring := s.o.TokenCacheStorage == tokencache.KindKeyring
	id, refresh, where, err := tokencache.LoadKubelogin(s.kubeloginDir(), fromKeyring, s.o.kubeloginKey())
	if errors.Is(err, tokencache.ErrNotFound) {
		return tokencache.Entry{}, false
	}
	if err == nil {
		var e tokencache.Entry
		if e, err = s.kubeloginEntry(id, refresh); err == nil {
			if err := s.store.Save(ctx, s.key, e); err != nil {
				s.printf("warning: could not save the tokens imported from kubelogin's cache: %v\n", err)
			}
			if err := os.MkdirAll(s.dir, 0o700); err == nil {
				_ = os.WriteFile(s.importedMarker(), nil, 0o600) // without it, the next miss imports again
			}
			s.printf("Imported the tokens of kubelogin's cache (%s).\n", where)
			return e, true
		}
		err = fmt.Errorf("%s: %w", where, err)
	}
	s.printf("warning: ignoring kubelogin's cached token: %v\n", err)
	return tokencache.Entry{}, false
}

// kubeloginEntry checks kubelogin's tokens and makes the cache entry. The
// ID token must be a JWT of this issuer for this client; its signature was
// checked by kubelogin when it was obtained and is not checked again, as
// for any cache entry. With --oidc-use-access-token kubelogin's id_token is
// the access token, possibly opaque (then refreshed on first use).
func (s *session) kubeloginEntry(id, refresh string) (tokencache.Entry, error) {
	e := tokencache.Entry{RefreshToken: refresh, TokenType: "Bearer", IssuerURL: s.o.IssuerURL, ClientID: s.o.ClientID}
	if id == "" {
		return e, nil
	}
	c, cerr := decodeClaims(id)
	if s.o.UseAccessToken {
		e.AccessToken = id
		if cerr == nil {
			e.Expiry = claimTime(c, "exp")
		}
		return e, nil
	}
	if cerr != nil {
		return tokencache.Entry{}, fmt.Errorf("id_token: %w", cerr)
	}
	if iss, _ := c["iss"].(string); iss != s.o.IssuerURL {
		return tokencache.Entry{}, errors.New("id_token is not from --oidc-issuer-url")
	}
	if !audienceHas(c["aud"], s.o.ClientID) {
		return tokencache.Entry{}, errors.New("id_token is not for --oidc-client-id")
	}
	e.IDToken = id
	e.Expiry = claimTime(c, "exp")
	return e, nil
}

func audienceHas(aud any, clientID string) bool {
	switch v := aud.(type) {
	case string:
		return v == clientID
	case []any:
		return slices.ContainsFunc(v, func(a any) bool { s, _ := a.(string); return s == clientID })
	}
	return false
}

// claimTime reads a NumericDate claim; zero when absent or not a number.
func claimTime(c map[string]any, name string) time.Time {
	f, ok := c[name].(float64)
	if !ok || f <= 0 {
		return time.Time{}
	}
	return time.Unix(int64(f), 0)
}
