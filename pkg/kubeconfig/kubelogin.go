package kubeconfig

import (
	"fmt"
	"strconv"
	"strings"

	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

// kubeloginBoolFlags are kubelogin v1.34.0's get-token boolean flags
// (klog's included): they take no separate value argument.
func kubeloginBoolFlags() map[string]bool {
	return map[string]bool{
		"oidc-use-access-token": true, "force-refresh": true, "insecure-skip-tls-verify": true,
		"tls-renegotiation-once": true, "tls-renegotiation-freely": true, "oidc-use-pkce": true,
		"skip-open-browser": true,
		"add_dir_header":    true, "alsologtostderr": true, "logtostderr": true, "one_output": true,
		"skip_headers": true, "skip_log_headers": true,
	}
}

// kubeloginValueFlags are its get-token flags that take a value.
func kubeloginValueFlags() map[string]bool {
	return map[string]bool{
		"oidc-issuer-url": true, "oidc-client-id": true, "oidc-client-secret": true,
		"oidc-redirect-url": true, "oidc-extra-scope": true, "oidc-request-header": true,
		"token-cache-dir": true, "token-cache-storage": true,
		"certificate-authority": true, "certificate-authority-data": true,
		"oidc-pkce-method": true, "grant-type": true, "listen-address": true,
		"browser-command": true, "authentication-timeout-sec": true,
		"local-server-cert": true, "local-server-key": true, "open-url-after-authentication": true,
		"oidc-redirect-url-hostname": true, "oidc-redirect-url-authcode-keyboard": true,
		"oidc-auth-request-extra-params": true, "username": true, "password": true,
		"v":                true,
		"log_backtrace_at": true, "log_dir": true, "log_file": true, "log_file_max_size": true,
		"stderrthreshold": true, "vmodule": true,
	}
}

// klogOnly are kubelogin's logging flags that kubectl-oidc has no use for
// (it logs to stderr; -v is kept).
func klogOnly(name string) bool {
	switch name {
	case "add_dir_header", "alsologtostderr", "logtostderr", "one_output", "skip_headers",
		"skip_log_headers", "log_backtrace_at", "log_dir", "log_file", "log_file_max_size",
		"stderrthreshold", "vmodule":
		return true
	}
	return false
}

// kubeloginFlag is one parsed flag of a kubelogin get-token command line.
type kubeloginFlag struct {
	name, value string
	bool        bool
}

// parseKubeloginArgs splits kubelogin get-token arguments into flags, in
// order: --name=value, --name value, -name..., and -v's forms (-v1, -v=1,
// -v 1, --v=1). An unknown flag or a positional argument is an error.
func parseKubeloginArgs(args []string) ([]kubeloginFlag, error) {
	bools, values := kubeloginBoolFlags(), kubeloginValueFlags()
	var out []kubeloginFlag
	for i := 0; i < len(args); i++ {
		a := args[i]
		if !strings.HasPrefix(a, "-") || a == "-" || a == "--" {
			return nil, fmt.Errorf("unexpected argument %q", a)
		}
		long := strings.HasPrefix(a, "--")
		name, value, hasValue := strings.Cut(strings.TrimLeft(a, "-"), "=")
		if !long && strings.HasPrefix(name, "v") && len(name) > 1 && !hasValue {
			// -v1: the shorthand with its value attached.
			name, value, hasValue = "v", name[1:], true
		}
		if !long && name != "v" {
			return nil, fmt.Errorf("unknown kubelogin flag %q", a)
		}
		switch {
		case bools[name]:
			if !hasValue {
				value = "true"
			}
			out = append(out, kubeloginFlag{name: name, value: value, bool: true})
		case values[name]:
			if !hasValue {
				if i+1 >= len(args) {
					return nil, fmt.Errorf("kubelogin flag --%s needs a value", name)
				}
				i++
				value = args[i]
			}
			out = append(out, kubeloginFlag{name: name, value: value})
		default:
			return nil, fmt.Errorf("unknown kubelogin flag %q", "--"+name)
		}
	}
	return out, nil
}

// KubeloginConversion is the kubectl-oidc get-token command line of a
// kubelogin get-token command line.
type KubeloginConversion struct {
	// Args are the get-token flags, secrets still among them as
	// --oidc-client-secret= and --password= (ExecUser moves them to env).
	Args []string
	// TokenCacheDir is kubelogin's --token-cache-dir, "" when not given.
	TokenCacheDir string
	// Dropped names the kubelogin logging flags left out.
	Dropped []string
}

// ConvertKubeloginArgs returns the kubectl-oidc get-token flags with the
// meaning of kubelogin's: the same flags as --name=value, except the ones
// kubelogin itself calls deprecated, written as their replacement
// (--oidc-use-pkce as --oidc-pkce-method=S256, which it overrides;
// --oidc-redirect-url-authcode-keyboard as --oidc-redirect-url, which it
// overrides), --authentication-timeout-sec as --authentication-timeout,
// klog's logging flags other than -v left out, and, for the authcode flow
// without a redirect flag, --oidc-redirect-url-hostname=localhost (kubelogin's
// redirect host, so the redirect URI registered for it keeps working).
func ConvertKubeloginArgs(args []string) (KubeloginConversion, error) {
	flags, err := parseKubeloginArgs(args)
	if err != nil {
		return KubeloginConversion{}, err
	}
	var c KubeloginConversion
	usePKCE, keyboardRedirect := false, ""
	redirectSet, grant, username := false, "auto", ""
	for _, f := range flags {
		switch f.name {
		case "oidc-redirect-url", "oidc-redirect-url-hostname":
			redirectSet = true
		case "grant-type":
			grant = f.value
		case "username":
			username = f.value
		case "oidc-use-pkce":
			b, err := strconv.ParseBool(f.value)
			if err != nil {
				return KubeloginConversion{}, fmt.Errorf("kubelogin flag --oidc-use-pkce=%s is not true or false", f.value)
			}
			usePKCE = b
		case "oidc-redirect-url-authcode-keyboard":
			keyboardRedirect = f.value
		case "token-cache-dir":
			c.TokenCacheDir = f.value
		}
	}
	for _, f := range flags {
		switch {
		case klogOnly(f.name):
			c.Dropped = append(c.Dropped, "--"+f.name)
			continue
		case f.name == "oidc-use-pkce", f.name == "oidc-redirect-url-authcode-keyboard":
			continue
		case f.name == "oidc-pkce-method" && usePKCE:
			continue
		case f.name == "oidc-redirect-url" && keyboardRedirect != "":
			continue
		case f.name == "authentication-timeout-sec":
			if _, err := strconv.Atoi(f.value); err != nil {
				return KubeloginConversion{}, fmt.Errorf("kubelogin flag --authentication-timeout-sec=%s is not a number of seconds", f.value)
			}
			c.Args = append(c.Args, "--authentication-timeout="+f.value+"s")
			continue
		case f.name == "v":
			c.Args = append(c.Args, "-v="+f.value)
			continue
		}
		if f.bool && f.value == "true" {
			c.Args = append(c.Args, "--"+f.name)
			continue
		}
		c.Args = append(c.Args, "--"+f.name+"="+f.value)
	}
	if usePKCE {
		c.Args = append(c.Args, "--oidc-pkce-method=S256")
	}
	if keyboardRedirect != "" {
		c.Args = append(c.Args, "--oidc-redirect-url="+keyboardRedirect)
	}
	if !redirectSet && keyboardRedirect == "" && (grant == "authcode" || (grant == "auto" && username == "")) {
		// kubelogin's local server redirect URL is http://localhost:PORT/,
		// the one registered at the provider for it; kubectl-oidc's default
		// host is 127.0.0.1.
		c.Args = append(c.Args, "--oidc-redirect-url-hostname=localhost")
	}
	return c, nil
}

// kubeloginGetTokenArgs returns the get-token arguments of an exec stanza
// that runs kubelogin (`kubectl oidc-login get-token`, `kubelogin
// get-token`, `kubectl-oidc_login get-token`).
func kubeloginGetTokenArgs(e *clientcmdapi.ExecConfig) ([]string, bool) {
	if e == nil {
		return nil, false
	}
	base, args := CommandBase(e.Command), e.Args
	switch {
	case base == "kubectl" && len(args) >= 2 && args[0] == "oidc-login" && args[1] == "get-token":
		return args[2:], true
	case (base == "kubelogin" || base == "kubectl-oidc_login") && len(args) >= 1 && args[0] == "get-token":
		return args[1:], true
	}
	return nil, false
}

// convertKubeloginUser rewrites u, whose exec stanza runs kubelogin, into a
// kubectl-oidc exec user: ConvertKubeloginArgs's flags with extra appended
// (and, when extra moves the token cache, --kubelogin-token-cache-dir so
// that the first get-token still finds kubelogin's entry), the stanza's env
// kept, secrets moved into it.
func convertKubeloginUser(name string, u *clientcmdapi.AuthInfo, args, extra []string, kubeloginDefaultDir string) (Converted, error) {
	conv, err := ConvertKubeloginArgs(args)
	if err != nil {
		return Converted{}, err
	}
	var getTokenArgs []string
	for _, a := range conv.Args {
		// A token cache flag given to convert replaces kubelogin's.
		if (hasFlag([]string{a}, "--token-cache-dir") && hasFlag(extra, "--token-cache-dir")) ||
			(hasFlag([]string{a}, "--token-cache-storage") && hasFlag(extra, "--token-cache-storage")) {
			continue
		}
		getTokenArgs = append(getTokenArgs, a)
	}
	getTokenArgs = append(getTokenArgs, extra...)
	if hasFlag(extra, "--token-cache-dir") {
		dir := conv.TokenCacheDir
		if dir == "" {
			dir = kubeloginDefaultDir
		}
		if dir != "" {
			getTokenArgs = append(getTokenArgs, "--kubelogin-token-cache-dir="+dir)
		}
	}
	exec := ExecUser(getTokenArgs).Exec
	for _, e := range u.Exec.Env {
		if e.Name != EnvClientSecret && e.Name != EnvPassword {
			exec.Env = append(exec.Env, e)
		}
	}
	u.Exec = exec
	return Converted{Legacy: Legacy{UserName: name}, Args: getTokenArgs, Kubelogin: true, Dropped: conv.Dropped}, nil
}

func hasFlag(args []string, name string) bool {
	for _, a := range args {
		if a == name || strings.HasPrefix(a, name+"=") {
			return true
		}
	}
	return false
}
