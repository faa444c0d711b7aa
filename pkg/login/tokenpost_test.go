package login

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"

	"golang.org/x/oauth2"
)

func TestPostTokenAuthenticatesTheClientAndReportsRefusals(t *testing.T) {
	tests := []struct {
		name       string
		secret     string
		status     int
		body       string
		wantErr    string // "" for success
		wantCode   string // the *tokenError's code, when an error
		wantID     string
		wantBasic  bool
		wantFormID bool
	}{
		{name: "public client: client_id in the form", status: 200, body: `{"id_token":"idt","refresh_token":"rt"}`, wantID: "idt", wantFormID: true},
		{name: "confidential client: HTTP Basic, no client_id in the form", secret: "s3cret", status: 200, body: `{"id_token":"idt"}`, wantID: "idt", wantBasic: true},
		{name: "a refusal names the code and description", status: 400, body: `{"error":"invalid_target","error_description":"no such audience"}`, wantErr: "the provider answered 400 Bad Request: invalid_target no such audience", wantCode: "invalid_target", wantFormID: true},
		{name: "an error in a 200 answer is a refusal", status: 200, body: `{"error":"invalid_grant"}`, wantErr: "invalid_grant", wantCode: "invalid_grant", wantFormID: true},
		{name: "no JSON", status: 502, body: `<html>`, wantErr: "the provider answered 502 Bad Gateway with no JSON", wantFormID: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if err := r.ParseForm(); err != nil {
					t.Error(err)
				}
				user, pass, basic := r.BasicAuth()
				if basic != tt.wantBasic || (basic && (user != "kubectl" || pass != tt.secret)) {
					t.Errorf("basic auth %v %q %q, want %v", basic, user, pass, tt.wantBasic)
				}
				if got := r.PostForm.Get("client_id"); (got == "kubectl") != tt.wantFormID {
					t.Errorf("client_id in the form %q, want it: %v", got, tt.wantFormID)
				}
				if r.PostForm.Get("grant_type") != "refresh_token" {
					t.Errorf("form %v lost its fields", r.PostForm)
				}
				w.WriteHeader(tt.status)
				_, _ = w.Write([]byte(tt.body))
			}))
			defer srv.Close()
			s := &session{o: Options{ClientID: "kubectl", ClientSecret: tt.secret}}
			p := &idp{client: srv.Client(), config: oauth2.Config{Endpoint: oauth2.Endpoint{TokenURL: srv.URL}}}

			a, err := s.postToken(t.Context(), p, url.Values{"grant_type": {"refresh_token"}})
			if tt.wantErr == "" {
				if err != nil || a.IDToken != tt.wantID {
					t.Fatalf("answer %+v, %v; want ID token %q", a, err, tt.wantID)
				}
				return
			}
			if err == nil || err.Error() != tt.wantErr {
				t.Fatalf("error %v, want %q", err, tt.wantErr)
			}
			var te *tokenError
			if errors.As(err, &te) != (tt.wantCode != "") || (te != nil && te.Code != tt.wantCode) {
				t.Fatalf("error %#v, want a *tokenError with code %q", err, tt.wantCode)
			}
		})
	}
}
