package proxy

import (
	"context"
	"encoding/base64"
	"net/http"
	"strings"
	"testing"

	"k8s.io/apiserver/pkg/authentication/authenticator"
	"k8s.io/apiserver/pkg/authentication/request/bearertoken"
	"k8s.io/apiserver/pkg/authentication/request/websocket"
)

// tokenCapture records the token kube-apiserver's request authenticators
// extract and refuses it.
type tokenCapture struct{ tokens []string }

func (c *tokenCapture) AuthenticateToken(_ context.Context, token string) (*authenticator.Response, bool, error) {
	c.tokens = append(c.tokens, token)
	return nil, false, nil
}

// FuzzTokenCandidates holds tokenCandidates against k8s.io/apiserver's
// bearer-token and WebSocket-protocol request authenticators (the ones
// WithAuthentication uses): whatever token they extract from the
// Authorization and Sec-WebSocket-Protocol headers, redact removes it (and
// each of its JWT segments of 8 bytes or more) from a message with the
// candidates, so no authentication failure can log it.
func FuzzTokenCandidates(f *testing.F) {
	enc := base64.RawURLEncoding.EncodeToString
	f.Add("Bearer eyJhbGciOi.eyJpc3MiOiJodHRw.c2lnbmF0dXJl", "")
	f.Add("bearer   padded-token-123456  ", "")
	f.Add("Basic dXNlcjpwYXNzd29yZA==", "")
	f.Add("", "base64url.bearer.authorization.k8s.io."+enc([]byte("ws-token-0123456789"))+", channel.k8s.io")
	f.Add("", "channel.k8s.io,base64url.bearer.authorization.k8s.io."+enc([]byte("a.bbbbbbbbbb.c")))
	f.Add("Bearer x", "base64url.bearer.authorization.k8s.io.!!notbase64!!")
	f.Add("Bearer\ttab-separated-token", " base64url.bearer.authorization.k8s.io. ")
	f.Fuzz(func(t *testing.T, authorization, protocols string) {
		r, _ := http.NewRequest(http.MethodGet, "/api", nil)
		if authorization != "" {
			r.Header.Set("Authorization", authorization)
		}
		if protocols != "" {
			r.Header.Set("Connection", "Upgrade")
			r.Header.Set("Upgrade", "websocket")
			r.Header.Set("Sec-WebSocket-Protocol", protocols)
		}
		candidates := tokenCandidates(r)
		capture := &tokenCapture{}
		_, _, _ = bearertoken.New(capture).AuthenticateRequest(r.Clone(context.Background()))
		_, _, _ = websocket.NewProtocolAuthenticator(capture).AuthenticateRequest(r.Clone(context.Background()))
		for _, tok := range capture.tokens {
			secrets := []string{tok}
			for _, seg := range strings.Split(tok, ".") {
				if len(seg) >= 8 {
					secrets = append(secrets, seg)
				}
			}
			msg := redact("invalid bearer token "+tok+": ["+tok+"]", candidates)
			for _, s := range secrets {
				if len(s) >= 8 && strings.Contains(msg, s) {
					t.Fatalf("token %q extracted by k8s.io/apiserver survives redaction: %q (candidates %q)", tok, msg, candidates)
				}
			}
		}
	})
}
