package authn

import (
	"reflect"
	"strings"

	"k8s.io/apimachinery/pkg/util/validation/field"
	"k8s.io/apiserver/pkg/apis/apiserver"
	"k8s.io/apiserver/pkg/authentication/authenticator"
	"k8s.io/apiserver/pkg/authentication/request/anonymous"
)

// AnonymousAuthenticator is implemented by the Authenticator that New
// returns. Anonymous is kube-apiserver's anonymous request authenticator
// for the configuration file's anonymous section (system:anonymous in the
// group system:unauthenticated, on the paths of its conditions only), or
// nil when anonymous authentication is off (no section, enabled: false,
// or the --oidc-* flags). The caller tries it only for a request without
// a token, as kube-apiserver does: a bad token is never anonymous.
type AnonymousAuthenticator interface {
	Anonymous() authenticator.Request
}

var _ AnonymousAuthenticator = (*tokenAuthenticator)(nil)

// newAnonymous is kube-apiserver's anonymous authenticator for cfg's
// anonymous section, nil when it is off.
func newAnonymous(cfg *apiserver.AuthenticationConfiguration) authenticator.Request {
	if cfg.Anonymous == nil || !cfg.Anonymous.Enabled {
		return nil
	}
	return anonymous.NewAuthenticator(cfg.Anonymous.Conditions)
}

// validateAnonymous is the proxy's restriction of the anonymous section
// (kube-apiserver's validation has run): enabled needs conditions, so that
// only listed paths are anonymous and everything else without a token stays
// 401, and each path is absolute (kube-apiserver compares it with the
// request's path as is, so any other path would never match).
func validateAnonymous(a *apiserver.AnonymousAuthConfig) field.ErrorList {
	if a == nil || !a.Enabled {
		return nil
	}
	var errs field.ErrorList
	fld := field.NewPath("anonymous", "conditions")
	if len(a.Conditions) == 0 {
		errs = append(errs, field.Required(fld,
			"oidc-proxy forwards anonymous requests only on listed paths: list them as conditions (for example path: /openid/v1/jwks)"))
	}
	for i, c := range a.Conditions {
		if !strings.HasPrefix(c.Path, "/") {
			errs = append(errs, field.Invalid(fld.Index(i).Child("path"), c.Path, "must be an absolute request path"))
		}
	}
	return errs
}

// anonymousChanged refuses a reloaded file whose anonymous section differs
// from the one the proxy started with, with kube-apiserver's error: the
// anonymous authenticator is built once.
func anonymousChanged(initial, next *apiserver.AnonymousAuthConfig) error {
	if reflect.DeepEqual(initial, next) {
		return nil
	}
	return field.ErrorList{field.Forbidden(field.NewPath("anonymous"), "changed from initial configuration file")}.ToAggregate()
}
