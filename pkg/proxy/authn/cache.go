package authn

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"strings"
	"sync"
	"time"
	"unsafe"

	"k8s.io/apiserver/pkg/authentication/authenticator"
)

// maxCacheEntries bounds the memory of the token cache. When full, expired
// entries are dropped first, then arbitrary ones.
const maxCacheEntries = 10000

// tokenCache caches successful authentications by the SHA-256 of the token,
// for a TTL that never extends past the token's own exp claim.
// k8s.io/apiserver/pkg/authentication/token/cache uses a fixed TTL and would
// keep serving an expired token for up to the TTL; this cache does not.
type tokenCache struct {
	ttl time.Duration
	now func() time.Time

	mu      sync.Mutex
	entries map[[sha256.Size]byte]cacheEntry
}

type cacheEntry struct {
	resp    *authenticator.Response
	expires time.Time
}

func newTokenCache(ttl time.Duration, now func() time.Time) *tokenCache {
	return &tokenCache{ttl: ttl, now: now, entries: map[[sha256.Size]byte]cacheEntry{}}
}

// cacheKey is the SHA-256 of the token. It hashes the string's bytes in
// place: []byte(token) would copy the ~1 KB token to the heap on every
// request, because the argument of sha256.Sum256 escapes. Sum256 only
// reads its input, so the read-only view of the string is safe.
func cacheKey(token string) [sha256.Size]byte {
	return sha256.Sum256(unsafe.Slice(unsafe.StringData(token), len(token)))
}

// get returns the cached response for the token key, if still valid.
func (c *tokenCache) get(key [sha256.Size]byte) (*authenticator.Response, bool) {
	if c.ttl <= 0 {
		return nil, false
	}
	now := c.now()
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.entries[key]
	if !ok {
		return nil, false
	}
	if !now.Before(e.expires) {
		delete(c.entries, key)
		return nil, false
	}
	return e.resp, true
}

// put caches resp for min(TTL, token exp). A token whose exp cannot be read is
// not cached.
func (c *tokenCache) put(key [sha256.Size]byte, token string, resp *authenticator.Response) {
	if c.ttl <= 0 {
		return
	}
	exp, ok := tokenExpiry(token)
	if !ok {
		return
	}
	now := c.now()
	expires := now.Add(c.ttl)
	if exp.Before(expires) {
		expires = exp
	}
	if !now.Before(expires) {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.entries) >= maxCacheEntries {
		for k, e := range c.entries {
			if !now.Before(e.expires) {
				delete(c.entries, k)
			}
		}
		for k := range c.entries {
			if len(c.entries) < maxCacheEntries {
				break
			}
			delete(c.entries, k)
		}
	}
	c.entries[key] = cacheEntry{resp: resp, expires: expires}
}

// tokenExpiry reads the exp claim of a JWT whose signature was already
// verified. exp is a NumericDate: seconds, possibly fractional.
func tokenExpiry(token string) (time.Time, bool) {
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return time.Time{}, false
	}
	payload, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return time.Time{}, false
	}
	var claims struct {
		Exp *json.Number `json:"exp"`
	}
	if err := json.Unmarshal(payload, &claims); err != nil || claims.Exp == nil {
		return time.Time{}, false
	}
	f, err := claims.Exp.Float64()
	if err != nil || f <= 0 {
		return time.Time{}, false
	}
	sec := int64(f)
	return time.Unix(sec, int64((f-float64(sec))*1e9)), true
}
