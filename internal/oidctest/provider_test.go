package oidctest

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
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

func TestResourceIndicators(t *testing.T) {
	p := New(t)
	p.Resources = []string{"https://a.example.com", "https://b.example.com"}
	c := p.HTTPClient()
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	authorize := func(resources ...string) url.Values {
		t.Helper()
		q := url.Values{"client_id": {p.ClientID}, "redirect_uri": {"http://127.0.0.1:1/cb"}, "response_type": {"code"}, "state": {"s"}, "resource": resources}
		resp, err := c.Get(p.Issuer + "/authorize?" + q.Encode())
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		loc, err := url.Parse(resp.Header.Get("Location"))
		if err != nil {
			t.Fatal(err)
		}
		return loc.Query()
	}
	token := func(form url.Values) (int, map[string]any) {
		t.Helper()
		form.Set("client_id", p.ClientID)
		resp, err := c.PostForm(p.Issuer+"/token", form)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var out map[string]any
		if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
			t.Fatal(err)
		}
		return resp.StatusCode, out
	}
	audOf := func(jwt any) any {
		t.Helper()
		parts := strings.Split(jwt.(string), ".")
		payload, _ := base64.RawURLEncoding.DecodeString(parts[1])
		var claims map[string]any
		if err := json.Unmarshal(payload, &claims); err != nil {
			t.Fatal(err)
		}
		return claims["aud"]
	}
	codeForm := func(code, resource string) url.Values {
		f := url.Values{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {"http://127.0.0.1:1/cb"}}
		if resource != "" {
			f.Set("resource", resource)
		}
		return f
	}

	if q := authorize("https://a.example.com", "https://c.example.com"); q.Get("error") != "invalid_target" || q.Get("code") != "" {
		t.Fatalf("authorize with an unknown resource: %v, want error=invalid_target", q)
	}
	// A resource not granted at authorize is invalid_target at the token endpoint.
	q := authorize("https://a.example.com")
	if status, out := token(codeForm(q.Get("code"), "https://b.example.com")); status != http.StatusBadRequest || out["error"] != "invalid_target" {
		t.Fatalf("code exchange for a resource not granted: %d %v", status, out)
	}
	q = authorize("https://a.example.com", "https://b.example.com")
	status, out := token(codeForm(q.Get("code"), "https://a.example.com"))
	if status != http.StatusOK || audOf(out["access_token"]) != "https://a.example.com" || audOf(out["id_token"]) != p.ClientID {
		t.Fatalf("code exchange for a: %d, access token aud %v, ID token aud %v", status, audOf(out["access_token"]), audOf(out["id_token"]))
	}
	rt := out["refresh_token"].(string)
	status, out = token(url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}, "resource": {"https://b.example.com"}})
	if status != http.StatusOK || audOf(out["access_token"]) != "https://b.example.com" {
		t.Fatalf("refresh for b: %d %v", status, out)
	}
	status, out = token(url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}})
	if aud, _ := audOf(out["access_token"]).([]any); status != http.StatusOK || len(aud) != 2 {
		t.Fatalf("refresh without resource: %d, aud %v, want both granted", status, audOf(out["access_token"]))
	}
	p.Resources = append(p.Resources, "https://c.example.com")
	if status, out := token(url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}, "resource": {"https://c.example.com"}}); status != http.StatusBadRequest || out["error"] != "invalid_target" {
		t.Fatalf("refresh for a resource not granted: %d %v", status, out)
	}
}
