package authn

import (
	"errors"
	"fmt"
	"strings"
)

// ForbiddenIdentityError is returned when a valid token maps to a reserved
// identity (a username or group starting with "system:") and
// AllowSystemIdentities is off. The server answers 403 with Reason.
type ForbiddenIdentityError struct{ Reason string }

func (e *ForbiddenIdentityError) Error() string { return "forbidden identity: " + e.Reason }

// ErrNotReady is wrapped by the error of AuthenticateToken when the token's
// issuer is configured but its discovery has not succeeded yet. The server
// answers 401 (as kube-apiserver) with a message naming the cause.
var ErrNotReady = errors.New("authenticator not ready")

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
