package authn

import (
	"errors"
	"fmt"
	"strings"
	"time"
)

// The errors below are the refusals of an Authenticator that carry an HTTP
// meaning; the proxy's authentication step answers each with its Status.
// Every other error means the token is invalid or untrusted: 401.

// ForbiddenIdentityError: the token is valid but maps to an identity the
// proxy refuses (a reserved "system:" name, or a value HTTP would alter in
// transit): 403 with Reason.
type ForbiddenIdentityError struct{ Reason string }

func (e *ForbiddenIdentityError) Error() string { return "forbidden identity: " + e.Reason }

// IssuerNotReadyError: the token names a configured issuer whose discovery
// has not succeeded yet, so it cannot be verified: 401, as from
// kube-apiserver (whose authenticator fails there too), with a message
// naming the cause instead of the bare "Unauthorized".
type IssuerNotReadyError struct{ Issuer string }

func (e *IssuerNotReadyError) Error() string {
	return fmt.Sprintf("issuer %q: discovery has not succeeded yet", e.Issuer)
}

// UnavailableError: the authenticator cannot judge any token yet (it is
// still being built): 503 with Retry-After.
type UnavailableError struct{ Reason string }

func (e *UnavailableError) Error() string { return "authenticator unavailable: " + e.Reason }

// TooManyRequestsError: the token would need a review the proxy may not
// send now (its TokenReview rate limit is reached): 429 with Retry-After.
type TooManyRequestsError struct{ RetryAfter time.Duration }

func (e *TooManyRequestsError) Error() string {
	return "too many unknown tokens to review: TokenReview rate limit reached"
}

// ErrNoToken is returned for an empty token.
var ErrNoToken = errors.New("no bearer token")

const systemPrefix = "system:"

// checkIdentity refuses reserved names.
func checkIdentity(name string, groups []string) error {
	if strings.HasPrefix(name, systemPrefix) {
		return &ForbiddenIdentityError{Reason: fmt.Sprintf(
			"the token maps to the reserved username %q; names starting with %q are refused", name, systemPrefix)}
	}
	for _, g := range groups {
		if strings.HasPrefix(g, systemPrefix) {
			return &ForbiddenIdentityError{Reason: fmt.Sprintf(
				"the token maps to the reserved group %q; groups starting with %q are refused", g, systemPrefix)}
		}
	}
	return nil
}

// redact removes the token, and any of its segments, from a message coming
// from a library, so that no error we return can carry a credential.
func redact(msg, token string) string {
	if token == "" {
		return msg
	}
	msg = strings.ReplaceAll(msg, token, "[token]")
	for _, seg := range strings.Split(token, ".") {
		if len(seg) >= 8 {
			msg = strings.ReplaceAll(msg, seg, "[redacted]")
		}
	}
	return msg
}
