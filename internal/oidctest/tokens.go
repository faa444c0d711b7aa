package oidctest

import (
	"crypto"
	"crypto/hmac"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/json"
	"strings"
	"testing"
	"time"
)

// SignRS256 signs claims as a compact JWS with RS256 and the given key ID.
func SignRS256(key *rsa.PrivateKey, kid string, claims map[string]any) string {
	return signRS256Typ(key, kid, "JWT", claims)
}

// signRS256Typ signs claims with RS256 and the header's typ.
func signRS256Typ(key *rsa.PrivateKey, kid, typ string, claims map[string]any) string {
	signing := encodeSegments(map[string]any{"alg": "RS256", "typ": typ, "kid": kid}, claims)
	sum := sha256.Sum256([]byte(signing))
	sig, err := rsa.SignPKCS1v15(rand.Reader, key, crypto.SHA256, sum[:])
	if err != nil {
		panic(err) // cannot happen with a valid key
	}
	return signing + "." + b64(sig)
}

func encodeSegments(header, claims map[string]any) string {
	h, err := json.Marshal(header)
	if err != nil {
		panic(err)
	}
	c, err := json.Marshal(claims)
	if err != nil {
		panic(err)
	}
	return b64(h) + "." + b64(c)
}

// Hostile names a token built to be refused.
type Hostile string

// The hostile tokens HostileTokens builds. Each must be refused by a verifier.
const (
	AlgNone           Hostile = "alg none"
	HS256WithRSAKey   Hostile = "HS256 signed with the RSA public key"
	WrongIssuer       Hostile = "wrong issuer"
	WrongAudience     Hostile = "wrong audience"
	Expired           Hostile = "expired"
	NotYetValid       Hostile = "not yet valid"
	UnknownKeyID      Hostile = "unknown key ID"
	SignedByOtherKey  Hostile = "signed by another key with the published key ID"
	TamperedPayload   Hostile = "tampered payload"
	Garbage           Hostile = "garbage"
	MissingSubject    Hostile = "missing sub claim"
	TruncatedSig      Hostile = "truncated signature"
	EmptySignature    Hostile = "empty signature"
	TwoSegments       Hostile = "two segments"
	ExpiredLongAgo    Hostile = "expired a year ago"
	AudienceListOther Hostile = "audience list without the client"
)

// HostileTokens returns one token per Hostile kind for user u. Each is
// derived from a valid token so that exactly one thing is wrong with it.
func (p *Provider) HostileTokens(t testing.TB, u User) map[Hostile]string {
	t.Helper()
	now := p.Now()
	other, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatalf("oidctest: generate key: %v", err)
	}
	claims := p.Claims(u)
	with := func(mod func(map[string]any)) map[string]any {
		c := map[string]any{}
		for k, v := range claims {
			c[k] = v
		}
		mod(c)
		return c
	}
	valid := p.Sign(claims)
	parts := strings.Split(valid, ".")

	// alg none: header says none, no signature.
	none := encodeSegments(map[string]any{"alg": "none", "typ": "JWT"}, claims) + "."

	// HS256 keyed with the PEM of the RSA public key (the classic confusion attack).
	hsSigning := encodeSegments(map[string]any{"alg": "HS256", "typ": "JWT", "kid": p.KeyID()}, claims)
	mac := hmac.New(sha256.New, p.PublicKeyPEM())
	mac.Write([]byte(hsSigning))
	hs := hsSigning + "." + b64(mac.Sum(nil))

	// Tampered: a different subject in the payload, the original signature.
	tamperedClaims := with(func(c map[string]any) { c["sub"] = "admin"; c["groups"] = []string{"cluster-admins"} })
	tp := strings.Split(encodeSegments(map[string]any{"alg": "RS256", "typ": "JWT", "kid": p.KeyID()}, tamperedClaims), ".")
	tampered := parts[0] + "." + tp[1] + "." + parts[2]

	return map[Hostile]string{
		AlgNone:         none,
		HS256WithRSAKey: hs,
		WrongIssuer:     p.Sign(with(func(c map[string]any) { c["iss"] = "https://evil.example.com" })),
		WrongAudience:   p.Sign(with(func(c map[string]any) { c["aud"] = "some-other-client" })),
		Expired: p.Sign(with(func(c map[string]any) {
			c["exp"] = now.Add(-time.Hour).Unix()
			c["iat"] = now.Add(-2 * time.Hour).Unix()
		})),
		ExpiredLongAgo: p.Sign(with(func(c map[string]any) {
			c["exp"] = now.AddDate(-1, 0, 0).Unix()
			c["iat"] = now.AddDate(-1, 0, -1).Unix()
		})),
		NotYetValid:       p.Sign(with(func(c map[string]any) { c["nbf"] = now.Add(time.Hour).Unix(); c["iat"] = now.Add(time.Hour).Unix() })),
		UnknownKeyID:      SignRS256(other, "no-such-key", claims),
		SignedByOtherKey:  SignRS256(other, p.KeyID(), claims),
		TamperedPayload:   tampered,
		Garbage:           "this-is-not-a-jwt",
		MissingSubject:    p.Sign(with(func(c map[string]any) { delete(c, "sub") })),
		TruncatedSig:      parts[0] + "." + parts[1] + "." + parts[2][:len(parts[2])/2],
		EmptySignature:    parts[0] + "." + parts[1] + ".",
		TwoSegments:       parts[0] + "." + parts[1],
		AudienceListOther: p.Sign(with(func(c map[string]any) { c["aud"] = []string{"a", "b"} })),
	}
}
