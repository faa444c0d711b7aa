package authn

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/kube-oidc/kube-oidc/internal/oidctest"
	"github.com/spf13/pflag"
)

func readFile(path string) ([]byte, error) { return os.ReadFile(path) }

func errorsContains(err error, s string) bool { return err != nil && strings.Contains(err.Error(), s) }

func parseFlags(t *testing.T, args ...string) *Options {
	t.Helper()
	o := NewOptions()
	fs := pflag.NewFlagSet("test", pflag.ContinueOnError)
	o.AddFlags(fs)
	if err := fs.Parse(args); err != nil {
		t.Fatalf("parse %v: %v", args, err)
	}
	return o
}

func TestAddFlags_DefaultsAndParsing(t *testing.T) {
	o := parseFlags(t)
	if o.UsernameClaim != "sub" || !slices.Equal(o.SigningAlgs, []string{"RS256"}) || o.TokenCacheTTL != 10*time.Second ||
		o.AllowSystemIdentities || o.UsernamePrefix != "" || len(o.RequiredClaims) != 0 {
		t.Fatalf("defaults: %+v", o)
	}
	o = parseFlags(t,
		"--oidc-issuer-url=https://issuer.example.com", "--oidc-client-id=kube",
		"--oidc-required-claim=hd=example.com", "--oidc-required-claim", "tier=a=b",
		"--oidc-signing-algs=RS256,ES256", "--token-cache-ttl=1m", "--allow-system-identities",
		"--oidc-username-claim=email", "--oidc-username-prefix=-", "--oidc-groups-claim=groups", "--oidc-groups-prefix=oidc:")
	want := map[string]string{"hd": "example.com", "tier": "a=b"}
	if len(o.RequiredClaims) != 2 || o.RequiredClaims["hd"] != want["hd"] || o.RequiredClaims["tier"] != want["tier"] {
		t.Errorf("required claims = %v, want %v", o.RequiredClaims, want)
	}
	if !slices.Equal(o.SigningAlgs, []string{"RS256", "ES256"}) || o.TokenCacheTTL != time.Minute || !o.AllowSystemIdentities {
		t.Errorf("parsed: %+v", o)
	}
	if errs := o.Validate(); len(errs) != 0 {
		t.Errorf("Validate: %v", errs)
	}
}

func TestValidate(t *testing.T) {
	p := oidctest.New(t)
	dir := t.TempDir()
	goodFile := filepath.Join(dir, "good.yaml")
	writeConfig(t, goodFile, authConfig(v1, simpleJWT(p, "p:")))
	anonFile := filepath.Join(dir, "anon.yaml")
	anon := authConfig(v1, simpleJWT(p, "p:"))
	anon["anonymous"] = map[string]any{"enabled": true}
	writeConfig(t, anonFile, anon)
	egressFile := filepath.Join(dir, "egress.yaml")
	eg := simpleJWT(p, "p:")
	eg["issuer"].(map[string]any)["egressSelectorType"] = "controlplane"
	writeConfig(t, egressFile, authConfig(v1, eg))
	dupFile := filepath.Join(dir, "dup.yaml")
	writeConfig(t, dupFile, authConfig(v1, simpleJWT(p, "p:"), simpleJWT(p, "q:")))
	noPrefixFile := filepath.Join(dir, "noprefix.yaml")
	np := simpleJWT(p, "p:")
	np["claimMappings"] = map[string]any{"username": map[string]any{"claim": "sub"}}
	writeConfig(t, noPrefixFile, authConfig(v1, np))

	tests := []struct {
		name    string
		args    []string
		wantErr string // "" = valid
	}{
		{name: "legacy flags", args: []string{"--oidc-issuer-url=https://issuer.example.com", "--oidc-client-id=kube"}},
		{name: "config file", args: []string{"--authentication-config=" + goodFile}},
		{name: "neither form", args: nil,
			wantErr: "either oidc-issuer-url and oidc-client-id, or authentication-config, must be specified"},
		{name: "both forms", args: []string{"--authentication-config=" + goodFile, "--oidc-issuer-url=https://issuer.example.com", "--oidc-client-id=kube"},
			wantErr: "authentication-config file and oidc-* flags are mutually exclusive"},
		{name: "config file with an explicit default oidc flag", args: []string{"--authentication-config=" + goodFile, "--oidc-username-claim=sub"},
			wantErr: "authentication-config file and oidc-* flags are mutually exclusive"},
		{name: "issuer without client", args: []string{"--oidc-issuer-url=https://issuer.example.com"},
			wantErr: "oidc-issuer-url and oidc-client-id must be specified together when any oidc-* flags are set"},
		{name: "client without issuer", args: []string{"--oidc-client-id=kube"},
			wantErr: "oidc-issuer-url and oidc-client-id must be specified together"},
		{name: "only a prefix flag", args: []string{"--oidc-username-prefix=oidc:"},
			wantErr: "oidc-issuer-url and oidc-client-id must be specified together"},
		{name: "groups prefix without groups claim", args: []string{"--oidc-issuer-url=https://issuer.example.com", "--oidc-client-id=kube", "--oidc-groups-prefix=oidc:"},
			wantErr: "oidc-groups-prefix is set but oidc-groups-claim is not"},
		{name: "empty username claim", args: []string{"--oidc-issuer-url=https://issuer.example.com", "--oidc-client-id=kube", "--oidc-username-claim="},
			wantErr: "claimMappings.username"},
		{name: "http issuer", args: []string{"--oidc-issuer-url=http://issuer.example.com", "--oidc-client-id=kube"},
			wantErr: "jwt[0].issuer.url"},
		{name: "unsupported signing alg", args: []string{"--oidc-issuer-url=https://issuer.example.com", "--oidc-client-id=kube", "--oidc-signing-algs=HS256"},
			wantErr: `oidc-signing-algs: unsupported signing alg "HS256"`},
		{name: "missing CA file", args: []string{"--oidc-issuer-url=https://issuer.example.com", "--oidc-client-id=kube", "--oidc-ca-file=" + filepath.Join(dir, "nope.pem")},
			wantErr: "oidc-ca-file: open"},
		{name: "CA file without a certificate", args: []string{"--oidc-issuer-url=https://issuer.example.com", "--oidc-client-id=kube", "--oidc-ca-file=" + goodFile},
			wantErr: "certificateAuthority"},
		{name: "negative cache TTL", args: []string{"--oidc-issuer-url=https://issuer.example.com", "--oidc-client-id=kube", "--token-cache-ttl=-1s"},
			wantErr: "token-cache-ttl must not be negative"},
		{name: "missing config file", args: []string{"--authentication-config=" + filepath.Join(dir, "nope.yaml")},
			wantErr: "no such file"},
		{name: "anonymous in config file", args: []string{"--authentication-config=" + anonFile},
			wantErr: "anonymous.conditions: Required value"},
		{name: "egress selector in config file", args: []string{"--authentication-config=" + egressFile},
			wantErr: "egressSelectorType"},
		{name: "duplicate issuer in config file", args: []string{"--authentication-config=" + dupFile},
			wantErr: "Duplicate value"},
		{name: "claim without prefix in config file", args: []string{"--authentication-config=" + noPrefixFile},
			wantErr: "prefix"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			errs := parseFlags(t, tt.args...).Validate()
			err := errors.Join(errs...)
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("Validate: %v, want no error", err)
				}
				return
			}
			if !errorsContains(err, tt.wantErr) {
				t.Fatalf("Validate: %v, want an error containing %q", err, tt.wantErr)
			}
		})
	}
}

func TestLegacyConfig_MatchesKubeAPIServerConversion(t *testing.T) {
	o := NewOptions()
	o.IssuerURL, o.ClientID = "https://issuer.example.com", "kube"
	o.RequiredClaims = map[string]string{"b": "2", "a": "1"}
	cfg, err := o.legacyConfig()
	if err != nil {
		t.Fatal(err)
	}
	j := cfg.JWT[0]
	if j.Issuer.URL != o.IssuerURL || !slices.Equal(j.Issuer.Audiences, []string{"kube"}) {
		t.Errorf("issuer: %+v", j.Issuer)
	}
	if j.ClaimMappings.Username.Claim != "sub" || *j.ClaimMappings.Username.Prefix != "https://issuer.example.com#" {
		t.Errorf("username mapping: %+v", j.ClaimMappings.Username)
	}
	if j.ClaimMappings.Groups.Claim != "" {
		t.Errorf("groups mapping without --oidc-groups-claim: %+v", j.ClaimMappings.Groups)
	}
	if len(j.ClaimValidationRules) != 2 || j.ClaimValidationRules[0].Claim != "a" || j.ClaimValidationRules[1].RequiredValue != "2" {
		t.Errorf("claim validation rules: %+v", j.ClaimValidationRules)
	}
	if algs := o.signingAlgs(); !slices.Equal(algs, []string{"RS256"}) {
		t.Errorf("signing algs %v", algs)
	}
	o.AuthenticationConfigFile = "x"
	if algs := o.signingAlgs(); len(algs) < 9 {
		t.Errorf("config file signing algs %v, want every asymmetric algorithm", algs)
	}
}
