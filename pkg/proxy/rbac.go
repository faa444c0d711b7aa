package proxy

import "k8s.io/apiserver/pkg/authentication/user"

// BuiltinExtraKeys are the user extra keys oidc-proxy can forward as
// Impersonate-Extra-KEY on its own, before any configuration adds more: the
// credential ID the token library sets for a token with a `jti` claim
// (user.CredentialIDKey), the original-user extras of a `kubectl --as`
// request under originalUserPrefix (user, groups, uid, extra), and
// ClientIPExtraKey (with --extra-user-header-client-ip). Its own identity
// needs `impersonate` on `userextras/KEY` in authentication.k8s.io for each;
// the shipped ClusterRoles (README.md, deploy/kustomize, the chart) are
// tested against this list. Keys from --extra-user-headers, claimMappings.extra
// and clients' --as-user-extra come on top.
func BuiltinExtraKeys(originalUserPrefix string) []string {
	return []string{
		user.CredentialIDKey,
		originalUserPrefix + "user",
		originalUserPrefix + "groups",
		originalUserPrefix + "uid",
		originalUserPrefix + "extra",
		ClientIPExtraKey,
	}
}
