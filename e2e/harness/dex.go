package harness

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"
)

// Dex clients and connectors the harness configures.
const (
	// DexClientID is a public client (any http://localhost:PORT redirect URI,
	// device flow) with a client secret, as kubectl-oidc users configure it.
	DexClientID = "kube-oidc"
	// DexOtherClientID is a second client; its ID tokens carry the wrong
	// audience for the proxy.
	DexOtherClientID = "other-app"
	// DexLocalConnector is the password database (the login form).
	DexLocalConnector = "local"
	// DexMockConnector is mockCallback: it logs in without a form as
	// MockUser with the groups MockGroups.
	DexMockConnector = "mock"
)

// The identity the mockCallback connector gives (fixed by Dex).
const (
	MockUserEmail = "kilgore@kilgore.trout"
	MockUserID    = "0-385-28089-0"
)

// MockGroups are the groups of the mockCallback identity.
var MockGroups = []string{"authors"}

// DexUser is a static password user. Static users carry no groups claim in
// this Dex version; RBAC binds them by username (email).
type DexUser struct {
	Email    string
	Username string
	UserID   string
	Password string
}

// DexOptions configure a Dex server. Zero values give the defaults.
type DexOptions struct {
	// IDTokenTTL is the ID token expiry (default 10m). Keep it short to
	// exercise refresh.
	IDTokenTTL time.Duration
	// RedirectURIs registered for DexClientID in addition to the public-client
	// rule (any http://localhost:PORT). Registering any makes Dex accept only these.
	RedirectURIs []string
	// Users are the static password users (default: DefaultDexUsers).
	Users []DexUser
	// NoClientSecret makes DexClientID a public client without a secret
	// (ClientSecret ""), as a discovery document publishes it.
	NoClientSecret bool
	// PeerClients are extra static clients (one per cluster audience) that
	// list DexClientID in their trustedPeers: DexClientID may request the
	// scope audience:server:client_id:PEER (Dex's cross-client trust).
	PeerClients []string
	// Host is the IP address Dex listens on and its issuer URL names
	// (default 127.0.0.1); a node's gateway makes Dex reachable from pods.
	Host net.IP
	// WebClient, when set, is a confidential client (a web application
	// such as oidc-proxy's sign-in page) that DexClientID lists in its
	// trustedPeers: it may request audience:server:client_id:DexClientID,
	// so its ID tokens carry the proxy's audience too.
	WebClient *DexClient
}

// DexClient is a confidential static client with one redirect URI.
type DexClient struct {
	ID, Secret, RedirectURI string
}

// DefaultDexUsers are the static password users when DexOptions.Users is empty.
var DefaultDexUsers = []DexUser{
	{Email: "alice@example.com", Username: "alice", UserID: "1001", Password: "alice-password"},
	{Email: "bob@example.com", Username: "bob", UserID: "1002", Password: "bob-password"},
}

// DexServer is a running Dex (memory storage, TLS with a CA the harness made).
type DexServer struct {
	Issuer            string // https://127.0.0.1:PORT/dex
	ClientID          string
	ClientSecret      string
	OtherClientSecret string
	Users             []DexUser
	CA                *CA
	CAFile            string
	// ServingSPKI is the SPKI hash of Dex's serving certificate, for the
	// browser (Chromium does not trust the harness CA).
	ServingSPKI string
	Dir         string
	Process     *Process
	// MetricsURL is Dex's Prometheus endpoint (telemetry.http).
	MetricsURL string

	bin        string
	configFile string
}

// StartDex starts Dex and waits until its discovery document answers.
func StartDex(t testing.TB, opts DexOptions) *DexServer {
	t.Helper()
	d := NewDex(t, opts)
	d.Start(t)
	return d
}

// NewDex configures Dex (port, certificates, config file) without starting
// it: its Issuer is known, and Start brings it up later (issuer-down scenarios).
func NewDex(t testing.TB, opts DexOptions) *DexServer {
	t.Helper()
	bin := RequireBinary(t, Dex)
	dir := t.TempDir()
	if opts.IDTokenTTL == 0 {
		opts.IDTokenTTL = 10 * time.Minute
	}
	if len(opts.Users) == 0 {
		opts.Users = DefaultDexUsers
	}
	port, err := FreePort()
	if err != nil {
		t.Fatal(err)
	}
	telemetryPort, err := FreePort()
	if err != nil {
		t.Fatal(err)
	}
	ca, err := NewCA("kube-oidc e2e Dex CA")
	if err != nil {
		t.Fatal(err)
	}
	host := net.IPv4(127, 0, 0, 1)
	if opts.Host != nil {
		host = opts.Host
	}
	certFile, keyFile, err := ca.WriteServingCertFor(dir, "dex", nil, []net.IP{host})
	if err != nil {
		t.Fatal(err)
	}
	d := &DexServer{
		Issuer:            "https://" + net.JoinHostPort(host.String(), strconv.Itoa(port)) + "/dex",
		ClientID:          DexClientID,
		ClientSecret:      randToken(t),
		OtherClientSecret: randToken(t),
		Users:             opts.Users,
		CA:                ca,
		CAFile:            filepath.Join(dir, "ca.crt"),
		Dir:               dir,
		bin:               bin,
		configFile:        filepath.Join(dir, "config.yaml"),
		MetricsURL:        fmt.Sprintf("http://127.0.0.1:%d/metrics", telemetryPort),
	}
	if opts.NoClientSecret {
		d.ClientSecret = ""
	}
	mustWrite(t, d.CAFile, string(ca.CertPEM))
	if d.ServingSPKI, err = SPKIHash(certFile); err != nil {
		t.Fatal(err)
	}
	cfg, err := d.config(port, certFile, keyFile, opts)
	if err != nil {
		t.Fatal(err)
	}
	mustWrite(t, d.configFile, cfg)
	return d
}

// config renders Dex's YAML configuration. JSON is valid YAML, so every
// string is JSON-quoted.
func (d *DexServer) config(port int, certFile, keyFile string, opts DexOptions) (string, error) {
	q := func(s string) string { b, _ := json.Marshal(s); return string(b) }
	var b strings.Builder
	fmt.Fprintf(&b, "issuer: %s\n", q(d.Issuer))
	b.WriteString("storage:\n  type: memory\n")
	fmt.Fprintf(&b, "web:\n  https: %s\n  tlsCert: %s\n  tlsKey: %s\n", q(strings.TrimSuffix(strings.TrimPrefix(d.Issuer, "https://"), "/dex")), q(certFile), q(keyFile))
	fmt.Fprintf(&b, "telemetry:\n  http: %s\n", q(strings.TrimSuffix(strings.TrimPrefix(d.MetricsURL, "http://"), "/metrics")))
	b.WriteString("logger:\n  level: debug\n")
	b.WriteString("oauth2:\n  skipApprovalScreen: true\n  passwordConnector: local\n")
	fmt.Fprintf(&b, "expiry:\n  idTokens: %s\n  deviceRequests: 5m\n", q(opts.IDTokenTTL.String()))
	b.WriteString("enablePasswordDB: true\n")
	b.WriteString("staticPasswords:\n")
	for _, u := range opts.Users {
		hash, err := bcrypt.GenerateFromPassword([]byte(u.Password), bcrypt.DefaultCost)
		if err != nil {
			return "", fmt.Errorf("bcrypt password of %s: %w", u.Email, err)
		}
		fmt.Fprintf(&b, "- email: %s\n  username: %s\n  userID: %s\n  hash: %s\n", q(u.Email), q(u.Username), q(u.UserID), q(string(hash)))
	}
	b.WriteString("connectors:\n- type: mockCallback\n  id: mock\n  name: Mock\n")
	b.WriteString("staticClients:\n")
	if d.ClientSecret == "" {
		fmt.Fprintf(&b, "- id: %s\n  name: kube-oidc\n  public: true\n", q(DexClientID))
	} else {
		fmt.Fprintf(&b, "- id: %s\n  name: kube-oidc\n  secret: %s\n  public: true\n", q(DexClientID), q(d.ClientSecret))
	}
	if len(opts.RedirectURIs) > 0 {
		b.WriteString("  redirectURIs:\n")
		for _, u := range opts.RedirectURIs {
			fmt.Fprintf(&b, "  - %s\n", q(u))
		}
	}
	if w := opts.WebClient; w != nil {
		fmt.Fprintf(&b, "  trustedPeers: [%s]\n", q(w.ID))
		fmt.Fprintf(&b, "- id: %s\n  name: %s\n  secret: %s\n  redirectURIs: [%s]\n", q(w.ID), q(w.ID), q(w.Secret), q(w.RedirectURI))
	}
	for _, peer := range opts.PeerClients {
		fmt.Fprintf(&b, "- id: %s\n  name: %s\n  secret: %s\n  redirectURIs: [\"http://localhost:1/callback\"]\n  trustedPeers: [%s]\n", q(peer), q(peer), q(d.OtherClientSecret+"-"+peer), q(DexClientID))
	}
	fmt.Fprintf(&b, "- id: %s\n  name: other\n  secret: %s\n  redirectURIs: [\"http://localhost:1/callback\"]\n", q(DexOtherClientID), q(d.OtherClientSecret))
	return b.String(), nil
}

// Start starts (or restarts, on the same port with the same configuration)
// Dex and waits for discovery. Memory storage means a restarted Dex has new
// signing keys and no sessions.
func (d *DexServer) Start(t testing.TB) {
	t.Helper()
	if d.Process != nil {
		if exited, _ := d.Process.Exited(); !exited {
			t.Fatalf("dex already running")
		}
	}
	d.Process = startProcess(t, "dex", d.Dir, nil, d.bin, "serve", d.configFile)
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	client := d.HTTPClient()
	defer client.CloseIdleConnections()
	err := waitReady(ctx, d.Process, 100*time.Millisecond, func(ctx context.Context) error {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, d.Issuer+"/.well-known/openid-configuration", nil)
		if err != nil {
			return err
		}
		resp, err := client.Do(req)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		var doc struct {
			Issuer string `json:"issuer"`
		}
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("discovery: %s", resp.Status)
		}
		if err := json.NewDecoder(resp.Body).Decode(&doc); err != nil {
			return fmt.Errorf("discovery: %w", err)
		}
		if doc.Issuer != d.Issuer {
			return fmt.Errorf("discovery: issuer %q, want %q", doc.Issuer, d.Issuer)
		}
		return nil
	})
	if err != nil {
		t.Fatalf("dex: %v\n%s", err, d.Process.Describe())
	}
}

// Stop stops Dex (for outage scenarios).
func (d *DexServer) Stop() {
	if d.Process != nil {
		d.Process.Stop()
	}
}

// HTTPClient trusts Dex's CA.
func (d *DexServer) HTTPClient() *http.Client {
	return &http.Client{Transport: &http.Transport{TLSClientConfig: d.CA.TLSClientConfig()}, Timeout: 30 * time.Second}
}

// Fatalf fails the test with Dex's log tail.
func (d *DexServer) Fatalf(t testing.TB, format string, args ...any) {
	t.Helper()
	t.Fatalf("%s\n%s", fmt.Sprintf(format, args...), d.Describe())
}

// Describe is Dex's log tail (or that it never started), for failure messages.
func (d *DexServer) Describe() string {
	if d == nil || d.Process == nil {
		return "--- dex: not started"
	}
	return d.Process.Describe()
}

// Requests is how many requests Dex's handler (e.g. "/token", "/auth") has
// answered, from its Prometheus counter http_requests_total.
func (d *DexServer) Requests(ctx context.Context, handler string) (int, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, d.MetricsURL, nil)
	if err != nil {
		return 0, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, fmt.Errorf("dex metrics: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return 0, fmt.Errorf("dex metrics: %s", resp.Status)
	}
	return sumCounter(readAllLimit(resp.Body), "http_requests_total", `handler="`+handler+`"`)
}

// sumCounter adds the values of the samples of a Prometheus text-format
// counter whose labels contain label.
func sumCounter(text, name, label string) (int, error) {
	total := 0
	for _, line := range strings.Split(text, "\n") {
		if !strings.HasPrefix(line, name+"{") || !strings.Contains(line, label) {
			continue
		}
		f := strings.Fields(line)
		var v float64
		if _, err := fmt.Sscan(f[len(f)-1], &v); err != nil {
			return 0, fmt.Errorf("parse %q: %w", line, err)
		}
		total += int(v)
	}
	return total, nil
}
