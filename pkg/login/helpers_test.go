package login

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net/http"
	"net/url"
	"os"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kube-oidc/kube-oidc/internal/oidctest"
	"github.com/kube-oidc/kube-oidc/internal/syncbuf"
	"github.com/kube-oidc/kube-oidc/pkg/login/tokencache"
)

// helperEnv names the environment variable that turns the test binary into
// a get-token helper process (see TestMain).
const helperEnv = "KUBE_OIDC_LOGIN_HELPER_OPTIONS"

func TestMain(m *testing.M) {
	if raw := os.Getenv(helperEnv); raw != "" {
		os.Exit(helperMain(raw))
	}
	os.Exit(m.Run())
}

// helperMain runs one non-interactive Get with the JSON options and prints
// the token's source.
func helperMain(raw string) int {
	var o Options
	if err := json.Unmarshal([]byte(raw), &o); err != nil {
		fmt.Fprintln(os.Stderr, "helper: options:", err)
		return 2
	}
	tok, err := Get(context.Background(), o, UI{Err: os.Stderr, Interactive: false})
	if err != nil {
		fmt.Fprintln(os.Stderr, "helper:", err)
		return 1
	}
	fmt.Println(tok.Source)
	return 0
}

// clock is a settable clock shared by the provider and the client.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.Now()} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

func testEnv(c *clock) env {
	return env{now: c.Now, getenv: func(string) string { return "" }, goos: "linux"}
}

// syncBuffer collects output written from several goroutines.
type syncBuffer = syncbuf.Buffer

// fixture is a provider with a shared clock and options pointing at it.
type fixture struct {
	t     testing.TB
	p     *oidctest.Provider
	clock *clock
	o     Options
}

func newFixture(t testing.TB, configure ...func(*oidctest.Provider)) *fixture {
	t.Helper()
	p := oidctest.New(t)
	c := newClock()
	p.Now = c.Now
	for _, f := range configure {
		f(p)
	}
	return &fixture{t: t, p: p, clock: c, o: Options{
		IssuerURL:             p.Issuer,
		ClientID:              p.ClientID,
		ClientSecret:          p.ClientSecret,
		CertificateAuthority:  []string{p.CAFile(t)},
		ListenAddresses:       []string{"127.0.0.1:0"},
		TokenCacheDir:         t.TempDir(),
		TokenCacheStorage:     tokencache.KindDisk,
		AuthenticationTimeout: 20 * time.Second,
	}}
}

// passwordOptions: the non-interactive password grant.
func (f *fixture) passwordOptions() Options {
	o := f.o
	o.GrantType = GrantPassword
	o.Username = f.p.User.Username
	o.Password = f.p.User.Password
	return o
}

func (f *fixture) get(o Options, ui UI) (*Token, error) {
	return get(context.Background(), o, ui, testEnv(f.clock), modeGet)
}

func (f *fixture) mustGet(o Options, ui UI) *Token {
	f.t.Helper()
	tok, err := f.get(o, ui)
	if err != nil {
		f.t.Fatalf("Get: %v\nstderr:\n%v", err, ui.Err)
	}
	return tok
}

// counts returns every provider counter, to prove "no network call".
func (f *fixture) counts() map[string]int {
	out := map[string]int{}
	for _, k := range []string{"discovery", "jwks", "authorize", "device_authorization", "revoke", "userinfo",
		"token:authorization_code", "token:refresh_token", "token:password", "token:client_credentials",
		"token:urn:ietf:params:oauth:grant-type:device_code"} {
		out[k] = f.p.Count(k)
	}
	return out
}

// entry reads the raw cache entry of o.
func (f *fixture) entry(o Options) (tokencache.Entry, error) {
	f.t.Helper()
	return f.load(o, (*Options).cacheKey)
}

// load reads the raw cache entry of o under the key keyOf gives.
func (f *fixture) load(o Options, keyOf func(*Options, []byte) tokencache.Key) (tokencache.Entry, error) {
	f.t.Helper()
	if err := o.Validate(); err != nil {
		f.t.Fatal(err)
	}
	ca, err := o.caBundle()
	if err != nil {
		f.t.Fatal(err)
	}
	return tokencache.NewDisk(o.TokenCacheDir).Load(context.Background(), keyOf(&o, ca))
}

func (f *fixture) saveEntry(o Options, e tokencache.Entry) {
	f.t.Helper()
	if err := o.Validate(); err != nil {
		f.t.Fatal(err)
	}
	ca, _ := o.caBundle()
	if err := tokencache.NewDisk(o.TokenCacheDir).Save(context.Background(), o.cacheKey(ca), e); err != nil {
		f.t.Fatal(err)
	}
}

// browser plays the person's browser for the authcode flow: it follows
// the redirects, optionally tampering with the authorization request, and
// records the codes it saw.
type browser struct {
	p      *oidctest.Provider
	mutate func(url.Values)
	// transport replaces the provider's client transport when set.
	transport http.RoundTripper
	mu        sync.Mutex
	codes     []string
	pages     []string
	errs      chan error
}

func newBrowser(p *oidctest.Provider, mutate func(url.Values)) *browser {
	return &browser{p: p, mutate: mutate, errs: make(chan error, 16)}
}

// open browses u like a real browser: its requests do not end with the
// login's context (oauth2cli's local server finishes, and that context
// ends, while the browser is still reading the callback's page), only
// after a bound.
func (b *browser) open(ctx context.Context, u string) error {
	go func() {
		ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
		defer cancel()
		b.errs <- b.browse(ctx, u)
	}()
	return nil
}

func (b *browser) browse(ctx context.Context, u string) error {
	transport := b.transport
	if transport == nil {
		transport = b.p.HTTPClient().Transport
	}
	client := &http.Client{
		Transport: transport,
		CheckRedirect: func(req *http.Request, via []*http.Request) error {
			q := req.URL.Query()
			if req.URL.Path == "/authorize" && b.mutate != nil {
				b.mutate(q)
				req.URL.RawQuery = q.Encode()
			}
			if c := q.Get("code"); c != "" {
				b.mu.Lock()
				b.codes = append(b.codes, c)
				b.mu.Unlock()
			}
			return nil
		},
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return err
	}
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	b.mu.Lock()
	b.pages = append(b.pages, string(body))
	b.mu.Unlock()
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("browser: %s answered %s", resp.Request.URL.Path, resp.Status)
	}
	return nil
}

func (b *browser) ui(stderr io.Writer) UI {
	return UI{Err: stderr, Interactive: true, OpenBrowser: b.open}
}

// keyboardPerson plays the person of authcode-keyboard: it watches stderr
// for the authorization URL, "signs in" without following the redirect to
// the out-of-band redirect URI, and pastes what paste returns.
type keyboardPerson struct {
	p      *oidctest.Provider
	paste  func(location *url.URL) string
	stderr syncBuffer
	once   sync.Once
	in     *io.PipeReader
	out    *io.PipeWriter
	errs   chan error
}

var authorizeURL = regexp.MustCompile(`https://\S+/authorize\?\S+`)

func newKeyboardPerson(p *oidctest.Provider, paste func(*url.URL) string) *keyboardPerson {
	k := &keyboardPerson{p: p, paste: paste, errs: make(chan error, 1)}
	k.in, k.out = io.Pipe()
	return k
}

func (k *keyboardPerson) Write(b []byte) (int, error) {
	n, err := k.stderr.Write(b)
	if m := authorizeURL.FindString(k.stderr.String()); m != "" {
		k.once.Do(func() { go func() { k.errs <- k.signIn(m) }() })
	}
	return n, err
}

func (k *keyboardPerson) String() string { return k.stderr.String() }

func (k *keyboardPerson) signIn(authURL string) error {
	client := &http.Client{
		Transport:     k.p.HTTPClient().Transport,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	resp, err := client.Get(authURL)
	if err != nil {
		return err
	}
	resp.Body.Close()
	loc, err := url.Parse(resp.Header.Get("Location"))
	if err != nil || resp.StatusCode != http.StatusFound {
		return fmt.Errorf("authorize answered %s, Location %q", resp.Status, resp.Header.Get("Location"))
	}
	_, err = io.WriteString(k.out, k.paste(loc)+"\n")
	return err
}

func (k *keyboardPerson) ui() UI { return UI{In: k.in, Err: k, Interactive: true} }

func wantErr(t *testing.T, err error, parts ...string) {
	t.Helper()
	if err == nil {
		t.Fatalf("got no error, want one containing %q", parts)
	}
	for _, p := range parts {
		if !strings.Contains(err.Error(), p) {
			t.Fatalf("error %q does not contain %q", err, p)
		}
	}
}

func isErr(err, target error) bool { return errors.Is(err, target) }

// urlWatcher passes writes to w and calls found once with the first match
// of re in everything written so far.
type urlWatcher struct {
	w     io.Writer
	re    string
	found func(string)
	mu    sync.Mutex
	seen  bytes.Buffer
	done  bool
}

func (u *urlWatcher) Write(b []byte) (int, error) {
	u.mu.Lock()
	u.seen.Write(b)
	var match string
	if !u.done {
		match = regexp.MustCompile(u.re).FindString(u.seen.String())
		u.done = match != ""
	}
	u.mu.Unlock()
	if match != "" {
		u.found(match)
	}
	return u.w.Write(b)
}

func (u *urlWatcher) String() string {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.seen.String()
}

// selfSignedCA returns the PEM of a fresh CA certificate that signed nothing.
func selfSignedCA(t *testing.T) []byte {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "unrelated test CA"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}
