package legacytokens

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/kube-oidc/kube-oidc/pkg/kubeconfig"
	"github.com/kube-oidc/kube-oidc/pkg/login/tokencache"
)

// fakeJWT returns an unsigned JWT-shaped token with the given exp claim.
func fakeJWT(exp any) string {
	h := base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"RS256"}`))
	p, _ := json.Marshal(map[string]any{"iss": "https://issuer.example.com", "exp": exp})
	return h + "." + base64.RawURLEncoding.EncodeToString(p) + ".c2ln"
}

func TestEntry(t *testing.T) {
	tok := fakeJWT(2000000000)
	tests := []struct {
		name       string
		legacy     kubeconfig.Legacy
		wantOK     bool
		wantExpiry time.Time
	}{
		{"nothing stored", kubeconfig.Legacy{IssuerURL: "https://issuer.example.com"}, false, time.Time{}},
		{"ID token: its exp", kubeconfig.Legacy{IDToken: tok, RefreshToken: "r"}, true, time.Unix(2000000000, 0)},
		{"refresh token only: refreshed on first use", kubeconfig.Legacy{RefreshToken: "r"}, true, time.Time{}},
		{"not a JWT", kubeconfig.Legacy{IDToken: "garbage", RefreshToken: "r"}, true, time.Time{}},
		{"three parts, not base64", kubeconfig.Legacy{IDToken: "a.b!.c"}, true, time.Time{}},
		{"exp not a number", kubeconfig.Legacy{IDToken: fakeJWT("soon")}, true, time.Time{}},
		{"negative exp", kubeconfig.Legacy{IDToken: fakeJWT(-1)}, true, time.Time{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.legacy.IssuerURL, tt.legacy.ClientID = "https://issuer.example.com", "kubectl"
			e, ok := Entry(tt.legacy)
			if ok != tt.wantOK {
				t.Fatalf("ok = %v, want %v", ok, tt.wantOK)
			}
			if !ok {
				return
			}
			want := tokencache.Entry{IDToken: tt.legacy.IDToken, RefreshToken: tt.legacy.RefreshToken, TokenType: "Bearer",
				Expiry: tt.wantExpiry, IssuerURL: "https://issuer.example.com", ClientID: "kubectl"}
			if !e.Expiry.Equal(want.Expiry) || e.IDToken != want.IDToken || e.RefreshToken != want.RefreshToken ||
				e.TokenType != want.TokenType || e.IssuerURL != want.IssuerURL || e.ClientID != want.ClientID {
				t.Errorf("entry %+v, want %+v", e, want)
			}
		})
	}
}

// storage records saves; err makes every Save fail.
type storage struct {
	tokencache.Storage
	saved map[string]tokencache.Entry // by Key.ID
	err   error
}

func (s *storage) Save(_ context.Context, k tokencache.Key, e tokencache.Entry) error {
	if s.err != nil {
		return s.err
	}
	s.saved[k.ID()] = e
	return nil
}

func (s *storage) Name() string { return "fake" }

func TestMove(t *testing.T) {
	key := tokencache.Key{IssuerURL: "https://issuer.example.com", ClientID: "kubectl", Scopes: []string{"email"}}
	alice := kubeconfig.Converted{Legacy: kubeconfig.Legacy{UserName: "alice", IssuerURL: key.IssuerURL, ClientID: key.ClientID, RefreshToken: "secret-refresh"}}
	tests := []struct {
		name      string
		c         kubeconfig.Converted
		keyErr    error
		saveErr   error
		wantMoved bool
		wantErr   string
	}{
		{name: "saved under get-token's key", c: alice, wantMoved: true},
		{name: "nothing stored: nothing saved", c: kubeconfig.Converted{Legacy: kubeconfig.Legacy{UserName: "bob"}}},
		{name: "no key", c: alice, keyErr: errors.New("bad CA"), wantErr: `token cache key of user "alice": bad CA`},
		{name: "save fails", c: alice, saveErr: errors.New("disk full"), wantErr: `save tokens of user "alice" in the fake token cache: disk full`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := &storage{saved: map[string]tokencache.Entry{}, err: tt.saveErr}
			m := Mover{Storage: s, KeyFor: func(l kubeconfig.Legacy) (tokencache.Key, error) {
				if l.UserName != tt.c.Legacy.UserName {
					t.Errorf("key asked for %q", l.UserName)
				}
				return key, tt.keyErr
			}}
			moved, err := m.Move(context.Background(), tt.c)
			if tt.wantErr != "" {
				if err == nil || err.Error() != tt.wantErr {
					t.Fatalf("error %v, want %q", err, tt.wantErr)
				}
				if strings.Contains(err.Error(), "secret-refresh") || len(s.saved) != 0 {
					t.Errorf("error shows the token, or something was saved: %v", s.saved)
				}
				return
			}
			if err != nil || moved != tt.wantMoved {
				t.Fatalf("Move = %v, %v; want %v", moved, err, tt.wantMoved)
			}
			if e, ok := s.saved[key.ID()]; ok != tt.wantMoved || (ok && e.RefreshToken != "secret-refresh") {
				t.Errorf("saved %+v", s.saved)
			}
		})
	}
}
