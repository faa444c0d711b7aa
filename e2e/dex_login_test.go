package e2e

import (
	"context"
	"testing"
	"time"

	"github.com/kube-oidc/kube-oidc/e2e/harness"
	"golang.org/x/oauth2"
)

// TestDexBrowserLoginAuthCodePKCE drives a real authorization code + PKCE
// login: Chromium fills in Dex's password form, Dex redirects to a loopback
// redirect URI, the code is exchanged with the PKCE verifier, and the ID
// token verifies with go-oidc for the right user. A wrong password never
// reaches the redirect URI.
func TestDexBrowserLoginAuthCodePKCE(t *testing.T) {
	dex := harness.StartDex(t, harness.DexOptions{})
	browser := harness.NewBrowser(t, harness.BrowserOptions{TrustSPKI: []string{dex.ServingSPKI}})
	alice := dex.Users[0]

	tests := []struct {
		name     string
		password string
		wantOK   bool
	}{
		{name: "wrong password stays on the login form", password: "not-" + alice.Password},
		{name: "right password returns a verified ID token", password: alice.Password, wantOK: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(t.Context(), 90*time.Second)
			defer cancel()
			cb := harness.NewCallback(t)
			cfg := dex.OAuth2Config(harness.DexClientID, cb.URL)
			verifier := oauth2.GenerateVerifier()
			authURL := cfg.AuthCodeURL("state-123", oauth2.S256ChallengeOption(verifier),
				oauth2.SetAuthURLParam("connector_id", harness.DexLocalConnector))

			if !tt.wantOK {
				if err := browser.SubmitDexLogin(ctx, authURL, alice.Email, tt.password); err != nil {
					dex.Fatalf(t, "browser login: %v\n--- chromium:\n%s", err, browser.Output())
				}
				// Dex renders the form again with its error message.
				if err := browser.WaitText(ctx, "Invalid Email Address and password"); err != nil {
					dex.Fatalf(t, "after a wrong password: %v", err)
				}
				if cb.Received() {
					t.Fatalf("a wrong password reached the redirect URI")
				}
				return
			}
			err := browser.LoginDex(ctx, authURL, alice.Email, tt.password, cb.URL)
			if err != nil {
				dex.Fatalf(t, "browser login: %v\n--- chromium:\n%s", err, browser.Output())
			}
			q, err := cb.Wait(ctx)
			if err != nil {
				dex.Fatalf(t, "%v", err)
			}
			if q.Get("state") != "state-123" {
				t.Fatalf("callback state = %q, want state-123", q.Get("state"))
			}
			tokenRequests, err := dex.Requests(ctx, "/token")
			if err != nil {
				dex.Fatalf(t, "%v", err)
			}
			// Without the verifier, Dex must refuse the code (PKCE enforced).
			if _, err := cfg.Exchange(dex.ClientContext(ctx), q.Get("code")); err == nil {
				t.Fatalf("code exchange without the PKCE verifier succeeded")
			}
			tok, err := cfg.Exchange(dex.ClientContext(ctx), q.Get("code"), oauth2.VerifierOption(verifier))
			if err != nil {
				dex.Fatalf(t, "code exchange: %v", err)
			}
			if n, err := dex.Requests(ctx, "/token"); err != nil || n != tokenRequests+2 {
				dex.Fatalf(t, "Dex counted %d token requests (err %v), want %d", n, err, tokenRequests+2)
			}
			if tok.RefreshToken == "" {
				t.Errorf("no refresh token although offline_access was requested")
			}
			v, err := dex.Verifier(ctx, harness.DexClientID)
			if err != nil {
				dex.Fatalf(t, "%v", err)
			}
			idt, err := v.Verify(ctx, harness.IDToken(tok))
			if err != nil {
				dex.Fatalf(t, "verify ID token: %v", err)
			}
			var claims struct {
				Email         string `json:"email"`
				EmailVerified bool   `json:"email_verified"`
			}
			if err := idt.Claims(&claims); err != nil {
				t.Fatalf("ID token claims: %v", err)
			}
			if claims.Email != alice.Email || !claims.EmailVerified {
				t.Fatalf("ID token email = %q (verified %v), want %q verified", claims.Email, claims.EmailVerified, alice.Email)
			}
			if idt.Issuer != dex.Issuer {
				t.Fatalf("ID token issuer = %q, want %q", idt.Issuer, dex.Issuer)
			}
		})
	}
}

// TestDexDeviceCodeApprovedInBrowser: the device authorization grant at Dex,
// approved by Chromium at verification_uri_complete with the password form,
// gives an ID token for that user; the harness uses the same approval for
// kubectl-oidc's device-code grant.
func TestDexDeviceCodeApprovedInBrowser(t *testing.T) {
	dex := harness.StartDex(t, harness.DexOptions{})
	browser := harness.NewBrowser(t, harness.BrowserOptions{TrustSPKI: []string{dex.ServingSPKI}})
	bob := dex.Users[1]
	ctx, cancel := context.WithTimeout(t.Context(), 90*time.Second)
	defer cancel()
	cfg := dex.OAuth2Config(harness.DexClientID, "")
	// Dex remembers the client_secret of the device authorization request
	// (form field only) and checks it when the browser finishes; x/oauth2
	// sends none by itself.
	da, err := cfg.DeviceAuth(dex.ClientContext(ctx), oauth2.SetAuthURLParam("client_secret", dex.ClientSecret))
	if err != nil {
		dex.Fatalf(t, "device authorization: %v", err)
	}
	if da.VerificationURIComplete == "" || da.UserCode == "" {
		t.Fatalf("device authorization response lacks verification_uri_complete or user_code: %+v", da)
	}
	pollCtx, stopPolling := context.WithCancel(ctx)
	defer stopPolling()
	approved := make(chan error, 1)
	go func() {
		err := browser.ApproveDexDevice(ctx, da.VerificationURIComplete, "", bob.Email, bob.Password)
		if err != nil {
			stopPolling() // the token will never come
		}
		approved <- err
	}()
	tok, err := cfg.DeviceAccessToken(dex.ClientContext(pollCtx), da)
	if err != nil {
		dex.Fatalf(t, "device access token: %v (browser: %v)", err, <-approved)
	}
	if err := <-approved; err != nil {
		dex.Fatalf(t, "browser approval: %v", err)
	}
	v, err := dex.Verifier(ctx, harness.DexClientID)
	if err != nil {
		dex.Fatalf(t, "%v", err)
	}
	idt, err := v.Verify(ctx, harness.IDToken(tok))
	if err != nil {
		dex.Fatalf(t, "verify ID token: %v", err)
	}
	var claims struct {
		Email string `json:"email"`
	}
	if err := idt.Claims(&claims); err != nil || claims.Email != bob.Email {
		t.Fatalf("device-flow ID token email = %q (err %v), want %q", claims.Email, err, bob.Email)
	}
}
