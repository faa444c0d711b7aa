// Package tokencache stores the tokens of kubectl-oidc logins between runs
// (on disk, in the OS keyring, or nowhere) and serialises logins per key
// with a file lock.
package tokencache

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"hash"
	"slices"
	"sort"
)

// keyEncodingVersion is hashed first so that a future change of the
// encoding can never produce the ID of an old, differently-encoded key.
const keyEncodingVersion = "kube-oidc/tokencache/key/v1"

// Key identifies one cached login. Every field that changes which token the
// provider gives is in it.
type Key struct {
	IssuerURL string
	ClientID  string
	// Scopes is order-insensitive; duplicates and empty strings are ignored.
	Scopes []string
	// ExtraParams are the extra authorization request parameters; a nil and
	// an empty map are the same.
	ExtraParams map[string]string
	GrantType   string
	Username    string
	// CACertHash is the SHA-256 hex of the identity provider's CA bundle as
	// given (file contents or data); "" for the system roots. See CAHash.
	CACertHash            string
	InsecureSkipTLSVerify bool
	UseAccessToken        bool
	// Cluster is the server URL of the cluster the token is for (from
	// kubectl's KUBERNETES_EXEC_INFO when the exec stanza sets
	// provideClusterInfo), so that a token obtained for one cluster is never
	// handed to another; "" for entries not bound to a cluster, whose IDs
	// are those of earlier versions.
	Cluster string
	// Audience is the audience of a token obtained by token exchange from
	// the session of the other fields; "" for the session's own tokens.
	Audience string
}

// ID returns the hex SHA-256 over a canonical, unambiguous encoding of the
// key: every string is length-prefixed, scopes are sorted and de-duplicated,
// extra parameters are sorted by name. Identical flags always give the same
// ID, in any order, on any run.
func (k Key) ID() string {
	h := sha256.New()
	var buf [binary.MaxVarintLen64]byte
	writeStr := func(s string) {
		n := binary.PutUvarint(buf[:], uint64(len(s)))
		h.Write(buf[:n])
		h.Write([]byte(s))
	}
	writeCount := func(c int) {
		n := binary.PutUvarint(buf[:], uint64(c))
		h.Write(buf[:n])
	}
	writeBool := func(b bool) {
		if b {
			h.Write([]byte{1})
		} else {
			h.Write([]byte{0})
		}
	}

	writeStr(keyEncodingVersion)
	writeStr(k.IssuerURL)
	writeStr(k.ClientID)
	scopes := canonicalScopes(k.Scopes)
	writeCount(len(scopes))
	for _, s := range scopes {
		writeStr(s)
	}
	names := make([]string, 0, len(k.ExtraParams))
	for name := range k.ExtraParams {
		names = append(names, name)
	}
	sort.Strings(names)
	writeCount(len(names))
	for _, name := range names {
		writeStr(name)
		writeStr(k.ExtraParams[name])
	}
	writeStr(k.GrantType)
	writeStr(k.Username)
	writeStr(k.CACertHash)
	writeBool(k.InsecureSkipTLSVerify)
	writeBool(k.UseAccessToken)
	if k.Cluster != "" {
		// Only when set, so that unbound keys keep their IDs; the old
		// encoding ends here, so a longer input never equals an old one.
		writeStr("cluster")
		writeStr(k.Cluster)
	}
	if k.Audience != "" {
		writeStr("audience")
		writeStr(k.Audience)
	}
	return hexSum(h)
}

// CAHash returns the value for Key.CACertHash: the SHA-256 hex of the CA
// bundle bytes, or "" when there are none (system roots).
func CAHash(pem []byte) string {
	if len(pem) == 0 {
		return ""
	}
	h := sha256.New()
	h.Write(pem)
	return hexSum(h)
}

func hexSum(h hash.Hash) string {
	return hex.EncodeToString(h.Sum(nil))
}

func canonicalScopes(in []string) []string {
	out := make([]string, 0, len(in))
	for _, s := range in {
		if s != "" {
			out = append(out, s)
		}
	}
	sort.Strings(out)
	return slices.Compact(out)
}

// isKeyID reports whether name is a string Key.ID could have returned, so
// that file names built from it stay inside the cache directory.
func isKeyID(name string) bool {
	if len(name) != sha256.Size*2 {
		return false
	}
	for _, c := range name {
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}
