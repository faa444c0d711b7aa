package kubeconfig

import (
	"fmt"
	"strings"

	"github.com/pmezard/go-difflib/difflib"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

// redacted replaces secret values in displayed kubeconfigs.
const redacted = "REDACTED"

// secretConfigKeys are auth-provider config keys holding secrets.
var secretConfigKeys = map[string]bool{
	cfgClientSecret: true, cfgRefreshToken: true, cfgIDToken: true,
	"access-token": true, "secret": true,
}

// secretFlags are get-token flags whose values are secrets.
var secretFlags = []string{"--oidc-client-secret=", "--password="}

// Redact returns a copy of cfg with every secret replaced by REDACTED:
// tokens, passwords, client keys (clientcmdapi.RedactSecrets), auth-provider
// secrets and secret exec flags.
func Redact(cfg *clientcmdapi.Config) (*clientcmdapi.Config, error) {
	c := cfg.DeepCopy()
	if err := clientcmdapi.RedactSecrets(c); err != nil {
		return nil, fmt.Errorf("redact kubeconfig: %w", err)
	}
	for _, u := range c.AuthInfos {
		if u.AuthProvider != nil {
			for k, v := range u.AuthProvider.Config {
				if secretConfigKeys[k] && v != "" {
					u.AuthProvider.Config[k] = redacted
				}
			}
		}
		if u.Exec != nil {
			for i, a := range u.Exec.Args {
				for _, f := range secretFlags {
					if strings.HasPrefix(a, f) {
						u.Exec.Args[i] = f + redacted
					}
				}
			}
			for i, e := range u.Exec.Env {
				if e.Value != "" {
					u.Exec.Env[i].Value = redacted
				}
			}
		}
	}
	return c, nil
}

// Diff returns a unified diff between two kubeconfigs as clientcmd writes
// them, with secrets redacted on both sides; "" when they are equal.
func Diff(path string, before, after *clientcmdapi.Config) (string, error) {
	a, err := redactedYAML(before)
	if err != nil {
		return "", err
	}
	b, err := redactedYAML(after)
	if err != nil {
		return "", err
	}
	if a == b {
		return "", nil
	}
	d, err := difflib.GetUnifiedDiffString(difflib.UnifiedDiff{
		A:        difflib.SplitLines(a),
		B:        difflib.SplitLines(b),
		FromFile: path,
		ToFile:   path + " (converted)",
		Context:  3,
	})
	if err != nil {
		return "", fmt.Errorf("diff kubeconfig: %w", err)
	}
	return d, nil
}

func redactedYAML(cfg *clientcmdapi.Config) (string, error) {
	r, err := Redact(cfg)
	if err != nil {
		return "", err
	}
	data, err := clientcmd.Write(*r)
	if err != nil {
		return "", fmt.Errorf("encode kubeconfig: %w", err)
	}
	return string(data), nil
}
