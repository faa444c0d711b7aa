package harness

import (
	"context"
	"fmt"
	"net/http"
	"path/filepath"
	"testing"
	"time"

	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

// ProxyOptions configure an oidc-proxy in front of an APIServer with a
// DexServer as the issuer. Flags are kube-oidc-proxy's (and kube-apiserver's).
type ProxyOptions struct {
	UsernameClaim  string // --oidc-username-claim (default here: email)
	UsernamePrefix string // --oidc-username-prefix (empty: the proxy's default)
	GroupsClaim    string // --oidc-groups-claim (default here: groups)
	GroupsPrefix   string // --oidc-groups-prefix (empty: none given)
	ExtraArgs      []string
	// AuthenticationConfig, when set, is the path of an
	// AuthenticationConfiguration given as --authentication-config instead
	// of the --oidc-* flags for Dex (the Dex server still names the logs).
	AuthenticationConfig string
	// NoWaitReady returns as soon as the proxy serves /healthz, without
	// waiting for /readyz (for the issuer-down scenario).
	NoWaitReady bool
	// Port is the secure port (0: a free one), for a URL known before the
	// proxy starts (a redirect URI registered at Dex).
	Port int
	// CA signs the serving certificate (nil: a new CA), for a CA file
	// given in ExtraArgs before the proxy starts.
	CA *CA
	// Binary is the oidc-proxy to run (empty: OurBinary's); Env is added
	// to its environment.
	Binary string
	Env    []string
}

// Proxy is a running oidc-proxy binary.
type Proxy struct {
	URL      string // https://127.0.0.1:PORT
	CA       *CA    // signs the proxy's serving certificate
	CAFile   string
	ReadyURL string // http://127.0.0.1:PORT/ready (--readiness-probe-port)
	Dir      string
	Process  *Process
}

// StartProxy starts oidc-proxy with its own credentials towards api (the
// ProxyUser token in a kubeconfig), Dex as the OIDC issuer, and a serving
// certificate from a harness CA; it waits until /readyz answers 200.
func StartProxy(t testing.TB, api *APIServer, dex *DexServer, opts ProxyOptions) *Proxy {
	t.Helper()
	return startProxy(t, api, dex, dex.Issuer, dex.ClientID, dex.CAFile, opts)
}

// StartProxyForIssuer is StartProxy with iss, the test's own issuer, in
// place of Dex.
func StartProxyForIssuer(t testing.TB, api *APIServer, iss *Issuer, opts ProxyOptions) *Proxy {
	t.Helper()
	return startProxy(t, api, nil, iss.URL, iss.ClientID, iss.CAFile, opts)
}

func startProxy(t testing.TB, api *APIServer, dex *DexServer, issuerURL, clientID, caFile string, opts ProxyOptions) *Proxy {
	t.Helper()
	bin := opts.Binary
	if bin == "" {
		bin = OurBinary(t, OIDCProxy)
	}
	p, args := newProxyFor(t, t.TempDir(), "kube-oidc e2e proxy CA", issuerURL, clientID, caFile, opts)
	kubeconfig := filepath.Join(p.Dir, "upstream.kubeconfig")
	if err := WriteKubeconfig(kubeconfig, api.URL, api.CAPEM, &clientcmdapi.AuthInfo{Token: api.ProxyToken}); err != nil {
		t.Fatal(err)
	}
	args = append(args, "--kubeconfig="+kubeconfig)
	args = append(args, opts.ExtraArgs...)
	p.Process = startProcess(t, "oidc-proxy", p.Dir, opts.Env, bin, args...)

	path := "/readyz"
	if opts.NoWaitReady {
		path = "/healthz"
	}
	p.waitServing(t, path, "oidc-proxy", dex)
	return p
}

// newProxy prepares what every oidc-proxy of the harness shares: free
// ports, a serving certificate from a new harness CA in dir, and the
// serving, probe and --oidc-* arguments for dex (without opts.ExtraArgs).
func newProxy(t testing.TB, dir, caName string, dex *DexServer, opts ProxyOptions) (*Proxy, []string) {
	t.Helper()
	return newProxyFor(t, dir, caName, dex.Issuer, dex.ClientID, dex.CAFile, opts)
}

func newProxyFor(t testing.TB, dir, caName, issuerURL, clientID, caFile string, opts ProxyOptions) (*Proxy, []string) {
	t.Helper()
	port, readyPort, metricsPort := opts.Port, freePort(t), freePort(t)
	if port == 0 {
		port = freePort(t)
	}
	ca := opts.CA
	if ca == nil {
		var err error
		if ca, err = NewCA(caName); err != nil {
			t.Fatal(err)
		}
	}
	certFile, keyFile, err := ca.WriteServingCert(dir, "proxy")
	if err != nil {
		t.Fatal(err)
	}
	p := &Proxy{
		URL:      fmt.Sprintf("https://127.0.0.1:%d", port),
		CA:       ca,
		CAFile:   filepath.Join(dir, "ca.crt"),
		ReadyURL: fmt.Sprintf("http://127.0.0.1:%d/ready", readyPort),
		Dir:      dir,
	}
	mustWrite(t, p.CAFile, string(ca.CertPEM))
	if opts.UsernameClaim == "" {
		opts.UsernameClaim = "email"
	}
	if opts.GroupsClaim == "" {
		opts.GroupsClaim = "groups"
	}
	args := []string{
		"--bind-address=127.0.0.1",
		fmt.Sprintf("--secure-port=%d", port),
		fmt.Sprintf("--readiness-probe-port=%d", readyPort),
		// Not the default :8081, which concurrent tests would share.
		fmt.Sprintf("--metrics-serving-address=127.0.0.1:%d", metricsPort),
		"--tls-cert-file=" + certFile,
		"--tls-private-key-file=" + keyFile,
	}
	if opts.AuthenticationConfig != "" {
		return p, append(args, "--authentication-config="+opts.AuthenticationConfig)
	}
	args = append(args,
		"--oidc-issuer-url="+issuerURL,
		"--oidc-client-id="+clientID,
		"--oidc-ca-file="+caFile,
		"--oidc-username-claim="+opts.UsernameClaim,
		"--oidc-groups-claim="+opts.GroupsClaim,
	)
	if opts.UsernamePrefix != "" {
		args = append(args, "--oidc-username-prefix="+opts.UsernamePrefix)
	}
	if opts.GroupsPrefix != "" {
		args = append(args, "--oidc-groups-prefix="+opts.GroupsPrefix)
	}
	return p, args
}

// waitServing polls path on the secure port until it answers 200; a
// failure names what and carries the proxy's and Dex's log tails.
func (p *Proxy) waitServing(t testing.TB, path, what string, dex *DexServer) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	client := p.HTTPClient()
	defer client.CloseIdleConnections()
	err := waitReady(ctx, p.Process, 100*time.Millisecond, func(ctx context.Context) error {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, p.URL+path, nil)
		if err != nil {
			return err
		}
		resp, err := client.Do(req)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("%s: %s: %s", path, resp.Status, lastLine(readAllLimit(resp.Body)))
		}
		return nil
	})
	if err != nil {
		dexLog := ""
		if dex != nil {
			dexLog = dex.Describe()
		}
		t.Fatalf("%s: %v\n%s\n%s", what, err, p.Process.Describe(), dexLog)
	}
}

// HTTPClient trusts the proxy's CA.
func (p *Proxy) HTTPClient() *http.Client {
	return &http.Client{Transport: &http.Transport{TLSClientConfig: p.CA.TLSClientConfig()}, Timeout: 30 * time.Second}
}

// RESTConfig is a client config for the proxy with a bearer token.
func (p *Proxy) RESTConfig(token string) *rest.Config {
	return &rest.Config{
		Host:            p.URL,
		BearerToken:     token,
		TLSClientConfig: rest.TLSClientConfig{CAData: p.CA.CertPEM},
		QPS:             -1,
	}
}

// Fatalf fails the test with the proxy's log tail.
func (p *Proxy) Fatalf(t testing.TB, format string, args ...any) {
	t.Helper()
	t.Fatalf("%s\n%s", fmt.Sprintf(format, args...), p.Process.Describe())
}

// WriteKubeconfig writes a kubeconfig with one cluster, user and context "e2e".
func WriteKubeconfig(path, server string, caPEM []byte, user *clientcmdapi.AuthInfo) error {
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters["e2e"] = &clientcmdapi.Cluster{Server: server, CertificateAuthorityData: caPEM}
	cfg.AuthInfos["e2e"] = user
	cfg.Contexts["e2e"] = &clientcmdapi.Context{Cluster: "e2e", AuthInfo: "e2e"}
	cfg.CurrentContext = "e2e"
	if err := clientcmd.WriteToFile(*cfg, path); err != nil {
		return fmt.Errorf("write kubeconfig %s: %w", path, err)
	}
	return nil
}
