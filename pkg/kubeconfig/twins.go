package kubeconfig

import (
	"maps"
	"slices"
	"strings"

	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

// TokenTwin is a context of a kubeconfig whose user already gets ID tokens
// from the same issuer for the same client (so the same audience) as a new
// context would, and sends them to another server: whichever of the two
// servers is not who it claims to be receives tokens the other accepts.
type TokenTwin struct {
	File, Context, User, Server string
}

// TokenTwins returns the contexts of the given kubeconfig files whose user
// runs kubectl-oidc get-token (or kubelogin's get-token) with issuer,
// clientID and audience ("" or clientID: the client's own ID tokens) and
// whose cluster's server is not server. Unreadable files are
// skipped: this is a warning, not a check setup depends on.
func TokenTwins(files []string, issuer, clientID, audience, server string) []TokenTwin {
	if audience == "" {
		audience = clientID
	}
	var out []TokenTwin
	for _, path := range files {
		f, err := Read(path)
		if err != nil || !f.Exists {
			continue
		}
		for _, name := range slices.Sorted(maps.Keys(f.Config.Contexts)) {
			c := f.Config.Contexts[name]
			u, cl := f.Config.AuthInfos[c.AuthInfo], f.Config.Clusters[c.Cluster]
			if u == nil || cl == nil || sameServer(cl.Server, server) {
				continue
			}
			args, ok := tokenPluginArgs(u.Exec)
			if !ok {
				continue
			}
			aud := flagValue(args, "--oidc-audience")
			if aud == "" {
				aud = flagValue(args, "--oidc-client-id")
			}
			if flagValue(args, "--oidc-issuer-url") == issuer && flagValue(args, "--oidc-client-id") == clientID && aud == audience {
				out = append(out, TokenTwin{File: path, Context: name, User: c.AuthInfo, Server: cl.Server})
			}
		}
	}
	return out
}

func sameServer(a, b string) bool {
	return strings.TrimSuffix(a, "/") == strings.TrimSuffix(b, "/")
}

// CommandBase is an exec command's program name: without its directory
// (either separator) and without ".exe".
func CommandBase(command string) string {
	if i := strings.LastIndexAny(command, `/\`); i >= 0 {
		command = command[i+1:]
	}
	return strings.TrimSuffix(command, ".exe")
}

// tokenPluginArgs returns the get-token flags of an exec stanza that runs
// kubectl-oidc (`kubectl-oidc get-token`, `kubectl oidc get-token`) or
// kubelogin (`kubectl oidc-login get-token`, `kubelogin get-token`).
func tokenPluginArgs(e *clientcmdapi.ExecConfig) ([]string, bool) {
	if e == nil {
		return nil, false
	}
	base, args := CommandBase(e.Command), e.Args
	switch {
	case base == "kubectl" && len(args) >= 2 && (args[0] == "oidc" || args[0] == "oidc-login") && args[1] == "get-token":
		return args[2:], true
	case (base == "kubectl-oidc" || base == "kubectl-oidc_login" || base == "kubelogin") && len(args) >= 1 && args[0] == "get-token":
		return args[1:], true
	}
	return nil, false
}

// flagValue returns the value of the last --name=value or --name value in args.
func flagValue(args []string, name string) string {
	v := ""
	for i, a := range args {
		if s, ok := strings.CutPrefix(a, name+"="); ok {
			v = s
		} else if a == name && i+1 < len(args) {
			v = args[i+1]
		}
	}
	return v
}
