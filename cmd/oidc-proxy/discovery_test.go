package main

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"

	"github.com/kube-oidc/kube-oidc/internal/oidctest"
	"github.com/kube-oidc/kube-oidc/pkg/discovery"
)

func TestPublicHandlersServeTheDiscoveryDocument(t *testing.T) {
	caPEM := oidctest.New(t).CAPEM()
	dir := t.TempDir()
	caFile := filepath.Join(dir, "ca.pem")
	if err := os.WriteFile(caFile, caPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name            string
		opts            discovery.Options
		servingCertFile func() string
		wantServed      bool
		wantCA          string
		wantErr         bool
	}{
		{name: "off without --discovery-client-id", opts: discovery.Options{}},
		{name: "issuer defaults to --oidc-issuer-url, no CA with a given certificate",
			opts: discovery.Options{ClientID: "kubectl"}, wantServed: true},
		{name: "--discovery-ca-file is published",
			opts: discovery.Options{ClientID: "kubectl", CAFile: caFile}, wantServed: true, wantCA: string(caPEM)},
		{name: "a generated serving certificate is published",
			opts: discovery.Options{ClientID: "kubectl"}, servingCertFile: func() string { return caFile }, wantServed: true, wantCA: string(caPEM)},
		{name: "a certificate generated in memory publishes no CA",
			opts: discovery.Options{ClientID: "kubectl"}, servingCertFile: func() string { return "" }, wantServed: true},
		{name: "a missing --discovery-ca-file fails at start",
			opts: discovery.Options{ClientID: "kubectl", CAFile: filepath.Join(dir, "missing.pem")}, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			opts := tt.opts
			public, err := publicHandlers(&opts, "https://issuer.example.com", tt.servingCertFile)
			if tt.wantErr {
				if err == nil {
					t.Fatal("no error")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			h, ok := public[discovery.Path]
			if ok != tt.wantServed {
				t.Fatalf("document served: %v, want %v", ok, tt.wantServed)
			}
			if !ok {
				return
			}
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, discovery.Path, nil))
			if rec.Code != http.StatusOK {
				t.Fatalf("status %d: %s", rec.Code, rec.Body)
			}
			var doc discovery.Document
			if err := json.Unmarshal(rec.Body.Bytes(), &doc); err != nil {
				t.Fatal(err)
			}
			if doc.IssuerURL != "https://issuer.example.com" || doc.ClientID != "kubectl" {
				t.Errorf("issuer %q client %q", doc.IssuerURL, doc.ClientID)
			}
			if doc.CertificateAuthorityData != tt.wantCA {
				t.Errorf("certificateAuthorityData = %q, want %q", doc.CertificateAuthorityData, tt.wantCA)
			}
		})
	}
}
