package web

import (
	"bytes"
	"compress/gzip"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Cookie names. __Host- makes the browser refuse them unless Secure, for
// Path=/ and without Domain: no other host or path can set them.
const (
	loginCookie   = "__Host-kube-oidc-login"
	sessionCookie = "__Host-kube-oidc-session"
	// maxChunk bounds one cookie's value (browsers keep 4096 bytes per
	// cookie, name and attributes included); maxChunks the cookies of one
	// session.
	maxChunk  = 3800
	maxChunks = 6
	// maxSealed bounds a sealed value read back from cookies.
	maxSealed = maxChunk * maxChunks
)

var errTooLarge = errors.New("sealed value too large for the session cookies")

// sealer seals values into cookies with AES-256-GCM (confidential and
// tamper-evident; the cookie's name is authenticated, so a value moves to
// no other cookie) under a key derived from the client secret, so that
// replicas sharing the secret open each other's cookies. Each value
// carries its own expiry.
type sealer struct {
	aead cipher.AEAD
	mac  []byte
	now  func() time.Time
}

func newSealer(secret string, now func() time.Time) (*sealer, error) {
	key, err := hkdf.Key(sha256.New, []byte(secret), nil, "kube-oidc web cookie encryption", 32)
	if err != nil {
		return nil, fmt.Errorf("derive cookie key: %w", err)
	}
	mac, err := hkdf.Key(sha256.New, []byte(secret), nil, "kube-oidc web csrf", 32)
	if err != nil {
		return nil, fmt.Errorf("derive csrf key: %w", err)
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, err
	}
	return &sealer{aead: aead, mac: mac, now: now}, nil
}

// envelope is what is sealed: the value and its expiry.
type envelope struct {
	Expires int64           `json:"exp"`
	Value   json.RawMessage `json:"v"`
}

// seal returns the sealed, compressed, base64url value v for cookie name,
// valid for ttl.
func (s *sealer) seal(name string, v any, ttl time.Duration) (string, error) {
	raw, err := json.Marshal(v)
	if err != nil {
		return "", err
	}
	plain, err := json.Marshal(envelope{Expires: s.now().Add(ttl).Unix(), Value: raw})
	if err != nil {
		return "", err
	}
	var z bytes.Buffer
	zw := gzip.NewWriter(&z)
	_, _ = zw.Write(plain)
	if err := zw.Close(); err != nil {
		return "", err
	}
	nonce := make([]byte, s.aead.NonceSize(), s.aead.NonceSize()+z.Len()+s.aead.Overhead())
	if _, err := rand.Read(nonce); err != nil {
		return "", err
	}
	out := s.aead.Seal(nonce, nonce, z.Bytes(), []byte(name))
	return base64.RawURLEncoding.EncodeToString(out), nil
}

// open reverses seal into v; a value that is not one this key sealed for
// name, or that expired, is an error.
func (s *sealer) open(name, sealed string, v any) error {
	if len(sealed) > maxSealed {
		return errTooLarge
	}
	data, err := base64.RawURLEncoding.DecodeString(sealed)
	if err != nil || len(data) < s.aead.NonceSize() {
		return errors.New("malformed cookie")
	}
	n := s.aead.NonceSize()
	z, err := s.aead.Open(nil, data[:n], data[n:], []byte(name))
	if err != nil {
		return errors.New("cookie not sealed by this proxy")
	}
	zr, err := gzip.NewReader(bytes.NewReader(z))
	if err != nil {
		return errors.New("malformed cookie")
	}
	plain, err := io.ReadAll(io.LimitReader(zr, 1<<20))
	if err != nil {
		return errors.New("malformed cookie")
	}
	var e envelope
	if err := json.Unmarshal(plain, &e); err != nil {
		return errors.New("malformed cookie")
	}
	if s.now().Unix() >= e.Expires {
		return errors.New("expired")
	}
	return json.Unmarshal(e.Value, v)
}

// tag is an HMAC of parts under the CSRF key (base64url).
func (s *sealer) tag(parts ...string) string {
	m := hmac.New(sha256.New, s.mac)
	for _, p := range parts {
		m.Write([]byte(strconv.Itoa(len(p))))
		m.Write([]byte{':'})
		m.Write([]byte(p))
	}
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// cookie is a cookie of this page: Secure, HttpOnly, SameSite=Lax, Path=/.
func cookie(name, value string, maxAge int) *http.Cookie {
	return &http.Cookie{Name: name, Value: value, Path: "/", MaxAge: maxAge,
		Secure: true, HttpOnly: true, SameSite: http.SameSiteLaxMode}
}

// chunkName is the name of the i-th cookie of a value split over several.
func chunkName(name string, i int) string {
	if i == 0 {
		return name
	}
	return name + "-" + strconv.Itoa(i)
}

// setChunked sets value over as many cookies named name, name-1, ... as it
// needs, and expires the chunks a longer earlier value left.
func setChunked(w http.ResponseWriter, r *http.Request, name, value string, maxAge int) error {
	n := (len(value) + maxChunk - 1) / maxChunk
	if n > maxChunks {
		return errTooLarge
	}
	for i := range n {
		end := min(len(value), (i+1)*maxChunk)
		http.SetCookie(w, cookie(chunkName(name, i), value[i*maxChunk:end], maxAge))
	}
	for i := n; i < maxChunks; i++ {
		if _, err := r.Cookie(chunkName(name, i)); err == nil {
			http.SetCookie(w, cookie(chunkName(name, i), "", -1))
		}
	}
	return nil
}

// readChunked joins the cookies setChunked set ("" when there is none).
func readChunked(r *http.Request, name string) string {
	var b strings.Builder
	for i := range maxChunks {
		c, err := r.Cookie(chunkName(name, i))
		if err != nil {
			break
		}
		b.WriteString(c.Value)
	}
	return b.String()
}

// clearChunked expires every cookie of name the request carries.
func clearChunked(w http.ResponseWriter, r *http.Request, name string) {
	for i := range maxChunks {
		if _, err := r.Cookie(chunkName(name, i)); err == nil {
			http.SetCookie(w, cookie(chunkName(name, i), "", -1))
		}
	}
}

// randomString is 32 random bytes, base64url.
func randomString() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}
