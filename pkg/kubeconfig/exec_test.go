package kubeconfig

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"

	"github.com/kube-oidc/kube-oidc/internal/oidctest"
)

// TestMain lets the test binary stand in for `kubectl-oidc` in exec stanzas:
// run under the name "kubectl-oidc", it acts as a minimal `kubectl-oidc
// get-token` (password grant) so that client-go's exec authenticator can
// run what setup writes.
func TestMain(m *testing.M) {
	if filepath.Base(os.Args[0]) == "kubectl-oidc" {
		os.Exit(fakeGetToken(os.Args[1:]))
	}
	flag.Parse()
	os.Exit(m.Run())
}

// fakeGetToken logs in with the password grant and answers with an
// ExecCredential in the version kubectl asked for.
func fakeGetToken(args []string) int {
	if len(args) < 1 || args[0] != "get-token" {
		fmt.Fprintf(os.Stderr, "fake kubectl: unexpected arguments %q\n", args)
		return 2
	}
	fs := flag.NewFlagSet("get-token", flag.ContinueOnError)
	issuer := fs.String("oidc-issuer-url", "", "")
	clientID := fs.String("oidc-client-id", "", "")
	ca := fs.String("certificate-authority", "", "")
	user := fs.String("username", "", "")
	pass := fs.String("password", "", "")
	fs.String("grant-type", "", "")
	if err := fs.Parse(args[1:]); err != nil {
		return 2
	}
	if *pass == "" {
		*pass = os.Getenv(EnvPassword)
	}
	var info struct {
		APIVersion string `json:"apiVersion"`
		Spec       struct {
			Interactive bool `json:"interactive"`
		} `json:"spec"`
	}
	if err := json.Unmarshal([]byte(os.Getenv("KUBERNETES_EXEC_INFO")), &info); err != nil {
		fmt.Fprintf(os.Stderr, "fake kubectl: KUBERNETES_EXEC_INFO: %v\n", err)
		return 1
	}
	client, err := caClient(*ca)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	ctx := oidc.ClientContext(context.Background(), client)
	p, err := oidc.NewProvider(ctx, *issuer)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	cfg := oauth2.Config{ClientID: *clientID, Endpoint: p.Endpoint(), Scopes: []string{oidc.ScopeOpenID}}
	tok, err := cfg.PasswordCredentialsToken(ctx, *user, *pass)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	idToken, _ := tok.Extra("id_token").(string)
	out, _ := json.Marshal(map[string]any{
		"apiVersion": info.APIVersion,
		"kind":       "ExecCredential",
		"status":     map[string]any{"token": idToken},
	})
	os.Stdout.Write(out)
	return 0
}

func caClient(caFile string) (*http.Client, error) {
	pem, err := os.ReadFile(caFile)
	if err != nil {
		return nil, err
	}
	pool := newPool(pem)
	return &http.Client{Transport: &http.Transport{TLSClientConfig: tlsConfig(pool)}}, nil
}

// TestWrittenExecStanzaRunsThroughClientGo writes a kubeconfig with Setup
// and validates it with a SelfSubjectReview: client-go's exec authenticator
// runs the stanza (here the fake kubectl), sends the token, and the fake
// API server sees the provider's user.
func TestWrittenExecStanzaRunsThroughClientGo(t *testing.T) {
	p := oidctest.New(t)
	api := p.NewAPIServer(t)
	bin := t.TempDir()
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(self, filepath.Join(bin, "kubectl-oidc")); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PATH", bin+string(os.PathListSeparator)+os.Getenv("PATH"))

	path := filepath.Join(t.TempDir(), "config")
	e := Entries{
		ClusterName: "test",
		Cluster:     &clientcmdapi.Cluster{Server: api.URL, CertificateAuthorityData: certPEM(api.Server)},
		UserName:    "oidc-test",
		User: ExecUser([]string{
			"--certificate-authority=" + p.CAFile(t),
			"--grant-type=password",
			"--oidc-client-id=" + p.ClientID,
			"--oidc-issuer-url=" + p.Issuer,
			"--password=" + p.User.Password,
			"--username=" + p.User.Username,
		}),
		ContextName:       "test",
		Context:           &clientcmdapi.Context{Cluster: "test", AuthInfo: "oidc-test"},
		SetCurrentContext: true,
	}
	if _, err := Setup(SetupOptions{Path: path, Entries: e}); err != nil {
		t.Fatal(err)
	}
	got, err := Validate(context.Background(), path, "test")
	if err != nil {
		t.Fatal(err)
	}
	if got.Username != p.User.Email {
		t.Errorf("API server saw %q, want %q", got.Username, p.User.Email)
	}
	if n := p.Count("token:password"); n == 0 {
		t.Error("the exec plugin never logged in at the provider")
	}
	if api.Reviews() != 1 {
		t.Errorf("%d reviews, want 1", api.Reviews())
	}
}

func TestValidateReportsRejectedCredentials(t *testing.T) {
	p := oidctest.New(t)
	api := p.NewAPIServer(t)
	path := filepath.Join(t.TempDir(), "config")
	e := Entries{
		ClusterName: "test",
		Cluster:     &clientcmdapi.Cluster{Server: api.URL, CertificateAuthorityData: certPEM(api.Server)},
		UserName:    "static",
		User:        &clientcmdapi.AuthInfo{Token: "not-a-jwt"},
		ContextName: "test",
		Context:     &clientcmdapi.Context{Cluster: "test", AuthInfo: "static"},
	}
	if _, err := Setup(SetupOptions{Path: path, Entries: e}); err != nil {
		t.Fatal(err)
	}
	_, err := Validate(context.Background(), path, "test")
	if err == nil || !strings.Contains(err.Error(), `SelfSubjectReview through context "test"`) || strings.Contains(err.Error(), "not-a-jwt") {
		t.Fatalf("error %v", err)
	}
}

func TestExecUserKeepsSecretsOutOfTheArguments(t *testing.T) {
	u := ExecUser([]string{
		"--oidc-client-id=kubectl",
		"--oidc-client-secret=the-client-secret",
		"--oidc-issuer-url=https://dex.example.com",
		"--password=the-password",
		"--username=alice",
	})
	for _, a := range u.Exec.Args {
		if strings.Contains(a, "the-client-secret") || strings.Contains(a, "the-password") || strings.HasPrefix(a, "--password") || strings.HasPrefix(a, "--oidc-client-secret") {
			t.Errorf("secret in the exec arguments (visible in ps): %q", u.Exec.Args)
		}
	}
	env := map[string]string{}
	for _, e := range u.Exec.Env {
		env[e.Name] = e.Value
	}
	if env[EnvClientSecret] != "the-client-secret" || env[EnvPassword] != "the-password" || len(env) != 2 {
		t.Errorf("exec env %v, want %s and %s", u.Exec.Env, EnvClientSecret, EnvPassword)
	}
	if want := []string{"get-token", "--oidc-client-id=kubectl", "--oidc-issuer-url=https://dex.example.com", "--username=alice"}; strings.Join(u.Exec.Args, " ") != strings.Join(want, " ") {
		t.Errorf("args %q, want %q", u.Exec.Args, want)
	}
}

func TestSecretsToKeyringNamesItemsInsteadOfSecrets(t *testing.T) {
	args := []string{"--oidc-client-id=kubectl", "--oidc-client-secret=the-client-secret", "--oidc-issuer-url=https://dex.example.com",
		"--password=the-password", "--username=alice"}
	stored := map[string]string{}
	u := ExecUser(args)
	u.Exec.Env = append(u.Exec.Env, clientcmdapi.ExecEnvVar{Name: "OTHER", Value: "kept"})
	if err := SecretsToKeyring(u.Exec, func(item, secret string) error { stored[item] = secret; return nil }); err != nil {
		t.Fatal(err)
	}
	want := "get-token --oidc-client-id=kubectl --oidc-issuer-url=https://dex.example.com --username=alice " +
		"--oidc-client-secret-keyring=client-secret:kubectl@https://dex.example.com --password-keyring=password:alice@https://dex.example.com"
	if got := strings.Join(u.Exec.Args, " "); got != want {
		t.Errorf("args\n %s\nwant\n %s", got, want)
	}
	if len(u.Exec.Env) != 1 || u.Exec.Env[0].Name != "OTHER" {
		t.Errorf("env %v, want only OTHER", u.Exec.Env)
	}
	if stored["client-secret:kubectl@https://dex.example.com"] != "the-client-secret" || stored["password:alice@https://dex.example.com"] != "the-password" {
		t.Errorf("stored %v", stored)
	}

	// A keyring that refuses leaves the stanza as it was.
	u = ExecUser(args)
	before := u.Exec.DeepCopy()
	err := SecretsToKeyring(u.Exec, func(string, string) error { return errors.New("no keyring service") })
	if err == nil || !strings.Contains(err.Error(), "no keyring service") || !reflect.DeepEqual(before, u.Exec) {
		t.Errorf("refused store: %v, stanza %+v", err, u.Exec)
	}
}
