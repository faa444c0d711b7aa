package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/spf13/cobra"
)

// TestShippedKubectlOIDCLinksNoClientGo: the build with the tag
// kubeconfig_sibling, which kubectl runs before almost every command, links
// no k8s.io module (their package initialisation is most of a cache-hit
// get-token's start-up; docs/benchmarks.md).
func TestShippedKubectlOIDCLinksNoClientGo(t *testing.T) {
	out, err := exec.Command("go", "list", "-tags=kubeconfig_sibling", "-deps", ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	for _, pkg := range strings.Fields(string(out)) {
		if strings.HasPrefix(pkg, "k8s.io/") || strings.HasPrefix(pkg, "sigs.k8s.io/") {
			t.Errorf("the get-token build links %s", pkg)
		}
	}
}

func TestKubeconfigCommandsRunInTheSibling(t *testing.T) {
	tests := []struct {
		name       string
		args       []string
		wantCode   int
		wantStdout string
		wantStderr string
	}{
		{name: "setup --help is the sibling's full help", args: []string{"setup", "--help"}, wantStdout: "--server-certificate-authority-data"},
		{name: "help convert too", args: []string{"help", "convert"}, wantStdout: "--kubeconfig"},
		{name: "a usage error is the sibling's, with its exit code", args: []string{"convert", "--no-such-flag"}, wantCode: 1, wantStderr: "kubectl-oidc: unknown flag: --no-such-flag (see kubectl oidc convert --help)\n"},
		{name: "flags before the command reach it", args: []string{"-v", "1", "whoami", "--oidc-issuer-url=https://issuer.example.com", "--oidc-client-id=c", "--token-cache-storage=disk"}, wantCode: 1, wantStderr: "not logged in to https://issuer.example.com"},
		{name: "shell completion of their flags", args: []string{"__complete", "setup", "--oidc-iss"}, wantStdout: "--oidc-issuer-url\tIssuer URL"},
		{name: "the root help lists them", args: []string{"--help"}, wantStdout: "  whoami      " + kubeconfigShort["whoami"]},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := runBin(t, nil, "", tt.args...)
			if r.code != tt.wantCode || !strings.Contains(r.stdout, tt.wantStdout) || !strings.Contains(r.stderr, tt.wantStderr) {
				t.Fatalf("exit %d, stdout %q, stderr %q; want exit %d, stdout with %q, stderr with %q", r.code, r.stdout, r.stderr, tt.wantCode, tt.wantStdout, tt.wantStderr)
			}
			if strings.Count(r.stderr, "kubectl-oidc:") > 1 {
				t.Errorf("the error is reported twice: %q", r.stderr)
			}
		})
	}
}

func TestMissingSiblingNamesWhatToReinstall(t *testing.T) {
	alone := filepath.Join(t.TempDir(), "kubectl-oidc")
	data, err := os.ReadFile(binPath)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(alone, data, 0o755); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(alone, "setup", "--help").CombinedOutput()
	if err == nil || !strings.Contains(string(out), "kubectl-oidc-kubeconfig, which is not next to kubectl-oidc") || !strings.Contains(string(out), "reinstall") {
		t.Fatalf("err %v, output %q", err, out)
	}
	// get-token does not need it.
	if out, err := exec.Command(alone, "version").CombinedOutput(); err != nil {
		t.Fatalf("version without the sibling: %v %s", err, out)
	}
}

// TestKubeconfigShortMatchesTheCommands: the get-token build lists the
// kubeconfig commands with their own one-line help.
func TestKubeconfigShortMatchesTheCommands(t *testing.T) {
	a := &app{getenv: func(string) string { return "" }}
	root := newRoot(a)
	seen := 0
	for _, c := range root.Commands() {
		if want, ok := kubeconfigShort[c.Name()]; ok {
			seen++
			if c.Short != want {
				t.Errorf("%s: Short %q, kubeconfigShort has %q", c.Name(), c.Short, want)
			}
		}
	}
	if seen != len(kubeconfigShort) {
		t.Errorf("%d of the %d kubeconfig commands found in %v", seen, len(kubeconfigShort), names(root.Commands()))
	}
}

func names(cmds []*cobra.Command) []string {
	var out []string
	for _, c := range cmds {
		out = append(out, c.Name())
	}
	return out
}
