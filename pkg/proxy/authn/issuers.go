package authn

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"k8s.io/apiserver/pkg/apis/apiserver"
	"k8s.io/apiserver/pkg/authentication/authenticator"
	"k8s.io/apiserver/pkg/server/dynamiccertificates"
	"k8s.io/apiserver/plugin/pkg/authenticator/token/oidc"

	"github.com/kube-oidc/kube-oidc/pkg/proxy/identity"
)

// issuerSet is one generation of the configuration: the JWT authenticators
// built from one AuthenticationConfiguration, the background work they run
// (discovery, key fetching) and the token cache of results they produced.
type issuerSet struct {
	cancel  context.CancelFunc
	issuers []issuerAuthenticator
	cache   *tokenCache
}

type issuerAuthenticator struct {
	url  string
	auth oidc.AuthenticatorTokenWithHealthCheck
	// mappings is the issuer's claim mappings, to name the claim an
	// identity value came from when it is refused.
	mappings apiserver.ClaimMappings
}

// source names the claim or expression that gives the identity field err
// is about, e.g. `claim "groups"`.
func (i *issuerAuthenticator) source(err *identity.Error) string {
	m := i.mappings
	var claim, expr string
	switch err.Field {
	case identity.Username:
		claim, expr = m.Username.Claim, m.Username.Expression
	case identity.Group:
		claim, expr = m.Groups.Claim, m.Groups.Expression
	case identity.UID:
		claim, expr = m.UID.Claim, m.UID.Expression
	case identity.ExtraKey, identity.ExtraValue:
		key := err.Key
		if err.Field == identity.ExtraKey {
			key = err.Value
		}
		for _, x := range m.Extra {
			if x.Key == key {
				expr = x.ValueExpression
			}
		}
	}
	switch {
	case claim != "":
		return fmt.Sprintf("claim %q", claim)
	case expr != "":
		return fmt.Sprintf("expression %q", expr)
	}
	return "the token authenticator"
}

// newIssuerSet builds one k8s.io/apiserver OIDC authenticator per JWT
// authenticator of cfg, as kube-apiserver does. Discovery runs in the
// background until parent ends or close is called; an unreachable issuer is
// not an error here.
func newIssuerSet(parent context.Context, cfg *apiserver.AuthenticationConfiguration, algs []string,
	cacheTTL time.Duration, now func() time.Time, cert *clientCert) (*issuerSet, error) {
	ctx, cancel := context.WithCancel(parent)
	s := &issuerSet{cancel: cancel, cache: newTokenCache(cacheTTL, now)}
	for i, jwt := range cfg.JWT {
		var (
			ca     oidc.CAContentProvider
			client *http.Client
		)
		if cert != nil {
			// With a client certificate the client is ours (the library
			// takes a client or a CA, not both).
			c, err := cert.issuerClient(jwt.Issuer.CertificateAuthority)
			if err != nil {
				cancel()
				return nil, fmt.Errorf("jwt[%d].issuer: %w", i, err)
			}
			client = c
		} else if jwt.Issuer.CertificateAuthority != "" {
			p, err := dynamiccertificates.NewStaticCAContent("oidc-authenticator", []byte(jwt.Issuer.CertificateAuthority))
			if err != nil {
				cancel()
				return nil, fmt.Errorf("jwt[%d].issuer.certificateAuthority: %w", i, err)
			}
			ca = p
		}
		a, err := oidc.New(ctx, oidc.Options{
			JWTAuthenticator:     jwt,
			CAContentProvider:    ca,
			Client:               client,
			SupportedSigningAlgs: algs,
			Compiler:             celCompiler,
		})
		if err != nil {
			cancel()
			return nil, fmt.Errorf("jwt[%d] (issuer %q): %w", i, jwt.Issuer.URL, err)
		}
		s.issuers = append(s.issuers, issuerAuthenticator{url: jwt.Issuer.URL, auth: a, mappings: jwt.ClaimMappings})
	}
	return s, nil
}

func (s *issuerSet) close() { s.cancel() }

// healthCheck is nil once every issuer's discovery succeeded.
func (s *issuerSet) healthCheck() error {
	var errs []error
	for _, i := range s.issuers {
		if err := i.auth.HealthCheck(); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// authenticate routes the token to the authenticator of its issuer (as the
// oidc authenticators themselves do, but here so that the result can be
// classified) and returns the result with its metrics label. A mapped
// identity with a value HTTP would alter in transit (identity.CheckUser) is
// a *ForbiddenIdentityError naming the value and the claim it came from.
func (s *issuerSet) authenticate(ctx context.Context, token string) (*authenticator.Response, string, error) {
	iss, err := untrustedIssuer(token)
	if err != nil {
		return nil, resultInvalidToken, fmt.Errorf("invalid bearer token: %w", err)
	}
	for idx := range s.issuers {
		i := &s.issuers[idx]
		if i.url != iss {
			continue
		}
		if i.auth.HealthCheck() != nil {
			return nil, resultNotReady, &IssuerNotReadyError{Issuer: truncate(iss, 200)}
		}
		resp, ok, err := i.auth.AuthenticateToken(ctx, token)
		if err != nil {
			return nil, resultInvalidToken, fmt.Errorf("invalid bearer token: %s", redact(err.Error(), token))
		}
		if !ok || resp == nil || resp.User == nil {
			return nil, resultInvalidToken, errors.New("invalid bearer token")
		}
		if err := identity.CheckUser(resp.User); err != nil {
			var ie *identity.Error
			errors.As(err, &ie)
			return nil, resultForbiddenIdentity, &ForbiddenIdentityError{Reason: fmt.Sprintf(
				"the token's %s (from %s) cannot be forwarded unchanged to the API server: %v; "+
					"identity values must be valid UTF-8, non-empty, without control characters and without white space at either end",
				ie.Field, i.source(ie), err)}
		}
		return resp, resultSuccess, nil
	}
	return nil, resultUnknownIssuer, fmt.Errorf("invalid bearer token: issuer %q is not trusted", truncate(iss, 200))
}

// untrustedIssuer reads the iss claim of a JWT without verifying it, only to
// pick the authenticator that will verify it.
func untrustedIssuer(token string) (string, error) {
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return "", fmt.Errorf("not a JWT: %d segments, want 3", len(parts))
	}
	payload, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return "", errors.New("not a JWT: payload is not base64url")
	}
	var claims struct {
		Issuer string `json:"iss"`
	}
	if err := json.Unmarshal(payload, &claims); err != nil {
		return "", errors.New("not a JWT: payload is not a JSON object with a string iss claim")
	}
	if claims.Issuer == "" {
		return "", errors.New("the token has no iss claim")
	}
	return claims.Issuer, nil
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}

// ClaimsIssuer tells whether token is shaped as a JWT whose unverified iss
// claim names one of the active configuration's issuers: such a token is
// this authenticator's to judge and must never be given to anyone else
// (the proxy's token passthrough). Nothing is verified.
func (a *tokenAuthenticator) ClaimsIssuer(token string) bool {
	iss, err := untrustedIssuer(token)
	if err != nil {
		return false
	}
	for _, i := range a.active.Load().issuers {
		if i.url == iss {
			return true
		}
	}
	return false
}
