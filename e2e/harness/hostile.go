package harness

import (
	"context"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"time"
)

// DexKeyIDs returns the key IDs of Dex's current JWKS.
func (d *DexServer) DexKeyIDs(ctx context.Context) ([]string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, d.Issuer+"/keys", nil)
	if err != nil {
		return nil, err
	}
	resp, err := d.HTTPClient().Do(req)
	if err != nil {
		return nil, fmt.Errorf("get JWKS: %w", err)
	}
	defer resp.Body.Close()
	var jwks struct {
		Keys []struct {
			Kid string `json:"kid"`
		} `json:"keys"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&jwks); err != nil {
		return nil, fmt.Errorf("decode JWKS: %w", err)
	}
	var ids []string
	for _, k := range jwks.Keys {
		ids = append(ids, k.Kid)
	}
	if len(ids) == 0 {
		return nil, fmt.Errorf("JWKS of %s has no keys", d.Issuer)
	}
	return ids, nil
}

// ForgeClaims are plausible claims for a token that Dex would have issued
// to DexClientID for email.
func (d *DexServer) ForgeClaims(email string, groups []string) map[string]any {
	now := time.Now()
	return map[string]any{
		"iss":            d.Issuer,
		"aud":            d.ClientID,
		"sub":            "forged-subject",
		"email":          email,
		"email_verified": true,
		"groups":         groups,
		"iat":            now.Unix(),
		"exp":            now.Add(time.Hour).Unix(),
	}
}

// SignRS256 signs claims with key under kid (a key Dex never had: a forgery).
func SignRS256(key *rsa.PrivateKey, kid string, claims map[string]any) (string, error) {
	signingInput, err := jwtSigningInput(map[string]any{"alg": "RS256", "typ": "JWT", "kid": kid}, claims)
	if err != nil {
		return "", err
	}
	sum := sha256.Sum256([]byte(signingInput))
	sig, err := rsa.SignPKCS1v15(rand.Reader, key, crypto.SHA256, sum[:])
	if err != nil {
		return "", fmt.Errorf("sign: %w", err)
	}
	return signingInput + "." + base64.RawURLEncoding.EncodeToString(sig), nil
}

// UnsignedJWT is an `alg: none` token with the given claims.
func UnsignedJWT(kid string, claims map[string]any) (string, error) {
	signingInput, err := jwtSigningInput(map[string]any{"alg": "none", "typ": "JWT", "kid": kid}, claims)
	if err != nil {
		return "", err
	}
	return signingInput + ".", nil
}

// TamperEmail returns token with its payload's email replaced and the
// original signature kept.
func TamperEmail(token, email string) (string, error) {
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return "", fmt.Errorf("not a JWS compact token")
	}
	payload, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return "", fmt.Errorf("decode payload: %w", err)
	}
	var claims map[string]any
	if err := json.Unmarshal(payload, &claims); err != nil {
		return "", fmt.Errorf("parse payload: %w", err)
	}
	claims["email"] = email
	b, err := json.Marshal(claims)
	if err != nil {
		return "", err
	}
	return parts[0] + "." + base64.RawURLEncoding.EncodeToString(b) + "." + parts[2], nil
}

// TokenExpiry is the exp claim of a JWT (no signature check).
func TokenExpiry(token string) (time.Time, error) {
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return time.Time{}, fmt.Errorf("not a JWS compact token")
	}
	payload, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return time.Time{}, fmt.Errorf("decode payload: %w", err)
	}
	var claims struct {
		Exp int64 `json:"exp"`
	}
	if err := json.Unmarshal(payload, &claims); err != nil {
		return time.Time{}, fmt.Errorf("parse payload: %w", err)
	}
	return time.Unix(claims.Exp, 0), nil
}

func jwtSigningInput(header, claims map[string]any) (string, error) {
	h, err := json.Marshal(header)
	if err != nil {
		return "", fmt.Errorf("marshal header: %w", err)
	}
	c, err := json.Marshal(claims)
	if err != nil {
		return "", fmt.Errorf("marshal claims: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(h) + "." + base64.RawURLEncoding.EncodeToString(c), nil
}
