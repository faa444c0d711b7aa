package main

import (
	"os"
	"os/exec"
	"strings"
	"testing"
)

// TestMain runs `oidc-proxy ARGS` in this test binary when
// OIDC_PROXY_TEST_ARGS is set (one argument per line), so that a test can
// run the command in a process with its own GODEBUG.
func TestMain(m *testing.M) {
	if args := os.Getenv("OIDC_PROXY_TEST_ARGS"); args != "" {
		cmd := newRootCommand(os.Stdout, os.Stderr)
		cmd.SetArgs(strings.Split(args, "\n"))
		if err := cmd.Execute(); err != nil {
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// `oidc-proxy version` and --version say whether the process runs in FIPS
// 140-3 mode (crypto/fips140.Enabled), and how strictly, with the Go
// Cryptographic Module's version. (GODEBUG=fips140=on at run time is what a
// GOFIPS140 build sets by default; hack/dist's test checks such a build.)
func TestVersionReportsFIPSMode(t *testing.T) {
	tests := []struct {
		godebug, want string
		fips          bool
	}{
		{"fips140=off", "oidc-proxy dev\n", false},
		{"fips140=on", "oidc-proxy dev (FIPS 140-3 mode on: Go Cryptographic Module latest)\n", true},
		{"fips140=only", "oidc-proxy dev (FIPS 140-3 mode only: Go Cryptographic Module latest)\n", true},
	}
	for _, tt := range tests {
		for _, args := range []string{"version", "--version"} {
			cmd := exec.Command(os.Args[0])
			cmd.Env = append(os.Environ(), "OIDC_PROXY_TEST_ARGS="+args, "GODEBUG="+tt.godebug)
			out, err := cmd.Output()
			if err != nil {
				t.Fatalf("%s with GODEBUG=%s: %v", args, tt.godebug, err)
			}
			if string(out) != tt.want {
				t.Errorf("%s with GODEBUG=%s: %q, want %q", args, tt.godebug, out, tt.want)
			}
		}
	}
}
