package kubeconfig

import (
	"encoding/base64"
	"maps"
	"slices"
	"sort"
	"strings"

	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"

	"github.com/kube-oidc/kube-oidc/internal/flagargs"
	"github.com/kube-oidc/kube-oidc/pkg/discovery"
)

// DocumentArgs turns a discovery document into get-token flags.
func DocumentArgs(d *discovery.Document) []string {
	args := []string{
		"--oidc-issuer-url=" + d.IssuerURL,
		"--oidc-client-id=" + d.ClientID,
	}
	for _, s := range d.Scopes {
		args = append(args, "--oidc-extra-scope="+s)
	}
	if len(d.ExtraParams) > 0 {
		for _, k := range slices.Sorted(maps.Keys(d.ExtraParams)) {
			args = append(args, "--oidc-auth-request-extra-params="+csvQuoteIfNeeded(k+"="+d.ExtraParams[k]))
		}
	}
	if len(d.GrantTypes) > 0 {
		args = append(args, "--grant-type="+d.GrantTypes[0])
	}
	if d.Audience != "" && d.Audience != d.ClientID {
		args = append(args, "--oidc-audience="+d.Audience)
		if d.AudienceMethod != "" {
			args = append(args, "--oidc-audience-method="+d.AudienceMethod)
		}
	}
	if d.RedirectURLHostname != "" {
		args = append(args, "--oidc-redirect-url-hostname="+d.RedirectURLHostname)
	}
	if d.IssuerCertificateAuthorityData != "" {
		args = append(args, "--certificate-authority-data="+base64.StdEncoding.EncodeToString([]byte(d.IssuerCertificateAuthorityData)))
	}
	return args
}

func csvQuoteIfNeeded(s string) string {
	if strings.ContainsAny(s, ",\"") {
		return flagargs.CSVQuote(s)
	}
	return s
}

// MergeArgs adds the discovered flags the person did not give (a flag
// given by the person replaces every discovered value of it; an explicit
// CA file replaces discovered CA data) and sorts by flag name, keeping the
// order of values within a flag.
func MergeArgs(given, discovered []string) []string {
	out := append([]string(nil), given...)
	for _, a := range discovered {
		name := argName(a)
		if HasArg(given, name) || (name == "--certificate-authority-data" && HasArg(given, "--certificate-authority")) {
			continue
		}
		out = append(out, a)
	}
	sort.SliceStable(out, func(i, j int) bool { return argName(out[i]) < argName(out[j]) })
	return out
}

func argName(a string) string {
	if i := strings.IndexByte(a, '='); i >= 0 {
		return a[:i]
	}
	return a
}

// HasArg reports whether args (--name=value) hold the flag name (--name).
func HasArg(args []string, name string) bool {
	for _, a := range args {
		if argName(a) == name {
			return true
		}
	}
	return false
}

// SetupNames are the cluster, user and context names setup writes: the
// given ones, else the cluster named after the server's host
// (DefaultClusterName), the user DefaultUserName(cluster) and the context
// named as the cluster.
func SetupNames(server, cluster, user, context string) (string, string, string) {
	if cluster == "" {
		cluster = DefaultClusterName(server)
	}
	if user == "" {
		user = DefaultUserName(cluster)
	}
	if context == "" {
		context = cluster
	}
	return cluster, user, context
}

// SetupUser is the user setup writes: ExecUser(getTokenArgs), and kubectl
// tells get-token the cluster's server, which binds the token cache entry
// to this cluster.
func SetupUser(getTokenArgs []string) *clientcmdapi.AuthInfo {
	u := ExecUser(getTokenArgs)
	u.Exec.ProvideClusterInfo = true
	return u
}

// ProxyKubeconfig is the file `kubectl oidc setup PROXY_URL` writes when
// the file is new and no other flag is given: the cluster at proxyURL
// trusting serverCAPEM (nil: the system roots), a user logging in with the
// document's settings, and the current context joining them. It holds no
// token.
func ProxyKubeconfig(proxyURL string, serverCAPEM []byte, d *discovery.Document) ([]byte, error) {
	cluster, user, context := SetupNames(proxyURL, d.ClusterName, "", "")
	f := &File{Config: clientcmdapi.NewConfig()}
	if _, err := Merge(f.Config, "", Entries{
		ClusterName:       cluster,
		Cluster:           &clientcmdapi.Cluster{Server: proxyURL, CertificateAuthorityData: serverCAPEM},
		UserName:          user,
		User:              SetupUser(MergeArgs(nil, DocumentArgs(d))),
		ContextName:       context,
		Context:           &clientcmdapi.Context{Cluster: cluster, AuthInfo: user},
		SetCurrentContext: true,
	}, false); err != nil {
		return nil, err
	}
	return f.Encode()
}
