package oidctest

import (
	"context"
	"testing"

	"github.com/coreos/go-oidc/v3/oidc"
)

func TestValidTokenVerifiesAndHostileTokensDoNot(t *testing.T) {
	p := New(t)
	ctx := oidc.ClientContext(context.Background(), p.HTTPClient())
	op, err := oidc.NewProvider(ctx, p.Issuer)
	if err != nil {
		t.Fatalf("discovery: %v", err)
	}
	v := op.Verifier(&oidc.Config{ClientID: p.ClientID})
	if _, err := v.Verify(ctx, p.IDToken(p.User)); err != nil {
		t.Fatalf("valid token refused: %v", err)
	}
	for kind, tok := range p.HostileTokens(t, p.User) {
		if kind == MissingSubject || kind == NotYetValid {
			continue // go-oidc does not check these; kube-apiserver does
		}
		if _, err := v.Verify(ctx, tok); err == nil {
			t.Errorf("%s: accepted", kind)
		}
	}
}

func TestPKCE(t *testing.T) {
	for _, tc := range []struct {
		challenge, method, verifier string
		ok                          bool
	}{
		{"", "", "", true},
		{"E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM", "S256", "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk", true},
		{"E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM", "S256", "wrong", false},
		{"abc", "plain", "abc", true},
		{"abc", "S256", "", false},
	} {
		if got := pkceOK(tc.challenge, tc.method, tc.verifier); got != tc.ok {
			t.Errorf("pkceOK(%q,%q,%q) = %v", tc.challenge, tc.method, tc.verifier, got)
		}
	}
}
