//go:build demo

// Package demo is `make demo`: the e2e harness's sandbox (etcd,
// kube-apiserver, Dex, oidc-proxy) started for a person, who is shown how
// kubectl-oidc logs in and how kubectl then works through the proxy.
//
// It is a Go test behind the `demo` build tag, so that it reuses the
// harness exactly as the scenarios do (components tied to the test's
// lifetime, failures with log tails) without being part of `go test ./...`.
// The Makefile compiles it with `go test -c` and runs the binary directly,
// so stdin, stdout and Ctrl-C are the person's.
package demo

import (
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"golang.org/x/term"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/kube-oidc/kube-oidc/e2e/harness"
)

// DirEnv names the directory for the demo's kubeconfig and token cache
// (the Makefile sets it to demo/ in the checkout). It is emptied at the start
// and removed at the end.
const DirEnv = "KUBE_OIDC_DEMO_DIR"

func TestDemo(t *testing.T) {
	ctx, stop := signal.NotifyContext(t.Context(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	dir := os.Getenv(DirEnv)
	if dir == "" {
		dir = filepath.Join(t.TempDir(), "demo")
	}
	dir, err := filepath.Abs(dir)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.RemoveAll(dir); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	say := func(format string, args ...any) { fmt.Printf(format+"\n", args...) }

	say("Starting the sandbox: etcd, kube-apiserver %s, Dex %s, oidc-proxy ...", harness.KubeVersion, harness.DexVersion)
	api := harness.StartAPIServer(t)
	dex := harness.StartDex(t, harness.DexOptions{NoClientSecret: true})
	alice := dex.Users[0]
	admin := api.AdminClient(t)
	if err := harness.CreateTeamNamespaces(ctx, admin, harness.TeamRBAC{TeamAUsers: []string{alice.Email}}); err != nil {
		api.Fatalf(t, "team RBAC: %v", err)
	}
	for _, ns := range []string{"team-a", "team-b"} {
		cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: ns + "-settings"}, Data: map[string]string{"team": ns}}
		if _, err := admin.CoreV1().ConfigMaps(ns).Create(ctx, cm, metav1.CreateOptions{}); err != nil {
			api.Fatalf(t, "configmap in %s: %v", ns, err)
		}
	}
	proxy := harness.StartProxy(t, api, dex, harness.ProxyOptions{GroupsPrefix: "oidc:", ExtraArgs: []string{
		"--discovery-client-id=" + dex.ClientID,
		"--discovery-scopes=email,offline_access",
		"--discovery-extra-params=connector_id=" + harness.DexLocalConnector,
		"--discovery-grant-types=authcode,device-code,password",
		"--discovery-cluster-name=kube-oidc-demo",
		"--discovery-issuer-ca-file=" + dex.CAFile,
	}})
	fingerprint, err := harness.Fingerprint(proxy.ServingCertFile())
	if err != nil {
		t.Fatal(err)
	}
	dexCA := filepath.Join(dir, "dex-ca.crt")
	if err := os.WriteFile(dexCA, dex.CA.CertPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	kubeconfig := filepath.Join(dir, "kubeconfig")
	kubectl := harness.NewClientKubectl(t, kubeconfig, nil)
	say(`
  kube-apiserver  %s   (RBAC: %s may read configmaps in team-a only)
  Dex             %s
  oidc-proxy      %s   (certificate fingerprint %s)
  Dex user        %s / password %s
`, api.URL, alice.Email, dex.Issuer, proxy.URL, fingerprint, alice.Email, alice.Password)

	run := func(shown []string, args []string, wantOK bool) {
		t.Helper()
		say("$ kubectl %s", strings.Join(shown, " "))
		r := kubectl.Run(ctx, args...)
		out := strings.TrimRight(r.Stdout+r.Stderr, "\n")
		if out != "" {
			say("%s", out)
		}
		say("")
		if (r.Err == nil) != wantOK {
			t.Fatalf("kubectl %s: %s\n%s\n%s\n%s", strings.Join(shown, " "), r, proxy.Process.Describe(), dex.Describe(), api.Process.Describe())
		}
	}
	// Paths under dir are shown relative to the checkout when possible.
	rel := func(s string) string {
		if wd, err := os.Getwd(); err == nil {
			if r, err := filepath.Rel(wd, dir); err == nil && !strings.HasPrefix(r, "..") {
				return strings.ReplaceAll(s, dir, r)
			}
		}
		return s
	}
	show := func(args ...string) []string {
		out := make([]string, len(args))
		for i, a := range args {
			out[i] = rel(a)
		}
		return out
	}

	say("# 1. Write a kubeconfig from the proxy's discovery document (issuer, client, scopes),")
	say("#    trusting the proxy by its fingerprint (--yes: at a terminal, setup shows server, issuer")
	say("#    and client and asks first). The password grant needs no browser.")
	setup := []string{"oidc", "setup", proxy.URL, "--ca-fingerprint", fingerprint, "--yes",
		"--grant-type=password", "--username=" + alice.Email,
		"--certificate-authority=" + dexCA, "--token-cache-dir=" + filepath.Join(dir, "cache"),
		"--skip-validation"}
	run(show(setup...), setup, true)

	say("# 2. Log in with the flags setup wrote into the kubeconfig's exec stanza, plus the password")
	say("#    (at a terminal, kubectl would ask for it on first use instead), for the proxy's server:")
	say("#    the cached token is bound to the cluster it is for.")
	login := append(append([]string{"oidc", "login"}, execArgs(t, kubeconfig)...), "--cluster-server="+proxy.URL, "--password="+alice.Password)
	run(show(login...), login, true)

	say("# 3. Who am I: the cached token, and the identity the API server sees through the proxy.")
	run([]string{"oidc", "whoami"}, []string{"oidc", "whoami"}, true)

	say("# 4. RBAC applies to the OIDC identity: team-a is allowed ...")
	run([]string{"get", "configmaps", "-n", "team-a"}, []string{"get", "configmaps", "-n", "team-a"}, true)
	say("# ... team-b is not (403 from the API server, through the proxy).")
	run([]string{"get", "configmaps", "-n", "team-b"}, []string{"get", "configmaps", "-n", "team-b"}, false)

	// The logout hint below, as run: it revokes at Dex, so it needs Dex's CA.
	logout := []string{"oidc", "logout", "--all", "--token-cache-dir=" + filepath.Join(dir, "cache"), "--certificate-authority=" + dexCA}
	if !term.IsTerminal(int(os.Stdin.Fd())) {
		say("# 5. Log out: remove the cached token and revoke its refresh token at Dex.")
		say("$ kubectl %s", strings.Join(show(logout...), " "))
		r := kubectl.Run(ctx, logout...)
		say("%s", strings.TrimRight(r.Stdout+r.Stderr, "\n"))
		if r.Err != nil || strings.Contains(r.Stderr, "warning") || !strings.Contains(r.Stderr, "Removed 1 cached token entry") {
			t.Fatalf("the logout hint does not work: %s\n%s", r, dex.Describe())
		}
		say("Done (stdin is not a terminal, so the sandbox stops now).")
		return
	}
	path := filepath.Dir(harness.OurBinary(t, harness.KubectlOIDC))
	// Google Cloud SDK's kubectl dispatcher would run the exec stanza's
	// `kubectl` again and again (harness.RealKubectl): link a real one.
	if real := kubectl.Bin; real != harness.RequireBinary(t, harness.KubectlBin) {
		bin := filepath.Join(dir, "bin")
		if err := os.MkdirAll(bin, 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.Symlink(real, filepath.Join(bin, "kubectl")); err != nil {
			t.Fatal(err)
		}
		path += ":" + bin
	}
	say(`The sandbox keeps running. In another terminal:

  export KUBECONFIG=%s PATH=%s:$PATH
  kubectl get configmaps -n team-a
  kubectl %s
      # then kubectl asks for %s's password (%s)

Press Ctrl-C to stop everything and remove %s.`, kubeconfig, path, strings.Join(logout, " "), alice.Email, alice.Password, rel(dir))
	<-ctx.Done()
	say("\nStopping the sandbox ...")
}

// execArgs are the get-token flags of the current context's exec stanza.
func execArgs(t *testing.T, kubeconfig string) []string {
	t.Helper()
	cfg, err := clientcmd.LoadFromFile(kubeconfig)
	if err != nil {
		t.Fatalf("read %s: %v", kubeconfig, err)
	}
	if c := cfg.Contexts[cfg.CurrentContext]; c != nil {
		if u := cfg.AuthInfos[c.AuthInfo]; u != nil && u.Exec != nil && len(u.Exec.Args) >= 1 && u.Exec.Args[0] == "get-token" {
			return u.Exec.Args[1:]
		}
	}
	t.Fatalf("%s: the current context runs no `kubectl-oidc get-token`", kubeconfig)
	return nil
}
