package login

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"html"
	"io"
	"net"
	"net/url"
	"os"
	"strings"
	"sync"

	"github.com/int128/oauth2cli"

	"github.com/kube-oidc/kube-oidc/internal/termsafe"
	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"
	"golang.org/x/term"
)

// successHTML is the page the browser shows after the authcode redirect.
const successHTML = `<!DOCTYPE html>
<html lang="en"><head><meta charset="UTF-8"><title>Signed in - kubectl oidc</title>
<style>body{font-family:sans-serif;background:#eee;margin:0}div{margin:2em;padding:2em;background:#fff;border-radius:1em}</style>
</head><body><div><h1>Signed in</h1><p>kubectl oidc has your token. You can close this tab.</p></div>
<script>window.close()</script></body></html>
`

// successPage is successHTML, or with --open-url-after-authentication a
// page that sends the browser on to that URL.
func (s *session) successPage() string {
	if s.o.OpenURLAfterAuthentication == "" {
		return successHTML
	}
	u := html.EscapeString(s.o.OpenURLAfterAuthentication)
	return `<!DOCTYPE html>
<html lang="en"><head><meta charset="UTF-8"><meta http-equiv="refresh" content="0;URL=` + u + `"><title>Signed in - kubectl oidc</title></head>
<body><p>Signed in. Continue to <a href="` + u + `">` + u + `</a>.</p></body></html>
`
}

// needsPerson reports whether the grant needs someone at the terminal or
// browser (so it cannot run when kubectl says the session is not interactive).
func needsPerson(o *Options) bool {
	switch o.GrantType {
	case GrantClientCredentials:
		return false
	case GrantPassword, GrantAuto:
		return o.Username == "" || (o.Password == "" && o.PasswordKeyring == "")
	}
	return true
}

// chooseGrant resolves --grant-type=auto (see docs/login.md):
// password when --username is given; authcode-keyboard when the redirect URL
// is not a loopback one; authcode when a browser can be opened; device-code
// when the provider has a device endpoint; else authcode (the URL is printed).
// client-credentials is never chosen.
func chooseGrant(o *Options, ui UI, hasDevice bool, env env) string {
	if o.GrantType != GrantAuto {
		return o.GrantType
	}
	switch {
	case o.Username != "":
		return GrantPassword
	case o.RedirectURL != "" && !isLoopbackURL(o.RedirectURL):
		return GrantAuthCodeKeyboard
	case browserAvailable(ui, o, env) && !o.SkipOpenBrowser:
		return GrantAuthCode
	case hasDevice:
		return GrantDeviceCode
	}
	return GrantAuthCode
}

func isLoopbackURL(s string) bool {
	u, err := url.Parse(s)
	return err == nil && (u.Scheme == "http" || u.Scheme == "https") && isLoopback(u.Hostname())
}

// runGrant signs in with grant and returns the verified token.
func (s *session) runGrant(ctx context.Context, p *idp, grant string) (*verifiedToken, error) {
	switch grant {
	case GrantAuthCode:
		return s.authCode(ctx, p)
	case GrantAuthCodeKeyboard:
		return s.authCodeKeyboard(ctx, p)
	case GrantDeviceCode:
		return s.deviceCode(ctx, p)
	case GrantPassword:
		return s.password(ctx, p)
	case GrantClientCredentials:
		return s.clientCredentials(ctx, p)
	}
	return nil, fmt.Errorf("unknown grant type %q", grant)
}

// authParams are the authorization request options shared by both authcode
// flows: nonce, PKCE challenge and the extra parameters.
type authParams struct {
	state, nonce, verifier string
	authOpts, tokenOpts    []oauth2.AuthCodeOption
}

func (s *session) newAuthParams(p *idp) (*authParams, error) {
	state, err := randomToken()
	if err != nil {
		return nil, err
	}
	nonce, err := randomToken()
	if err != nil {
		return nil, err
	}
	a := &authParams{state: state, nonce: nonce}
	a.authOpts = append(a.authOpts, oauth2.SetAuthURLParam("nonce", nonce))
	for k, v := range s.o.AuthRequestExtraParams {
		a.authOpts = append(a.authOpts, oauth2.SetAuthURLParam(k, v))
	}
	if s.o.PKCEMethod == PKCES256 || (s.o.PKCEMethod == PKCEAuto && p.supportsS256()) {
		a.verifier = oauth2.GenerateVerifier()
		a.authOpts = append(a.authOpts, oauth2.S256ChallengeOption(a.verifier))
		a.tokenOpts = append(a.tokenOpts, oauth2.VerifierOption(a.verifier))
	}
	a.tokenOpts = append(a.tokenOpts, p.codeTokenOpts...)
	return a, nil
}

func randomToken() (string, error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("random: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(b), nil
}

// authCode runs the authorization code flow through oauth2cli's local
// server: the browser is sent to http://127.0.0.1:PORT/, which redirects to
// the provider; the URL is always printed too.
func (s *session) authCode(ctx context.Context, p *idp) (*verifiedToken, error) {
	a, err := s.newAuthParams(p)
	if err != nil {
		return nil, err
	}
	bind, redirect, err := localRedirect(&s.o)
	if err != nil {
		return nil, err
	}
	cfg := p.config
	cfg.RedirectURL = redirect.String()
	ready := make(chan string, 1)
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		select {
		case index := <-ready:
			u := shortURL(index, s.o.ListenAddresses)
			s.printf("Open this URL in your browser to sign in at %s:\n\n    %s\n\n", s.issuerHost(), u)
			if !s.o.SkipOpenBrowser {
				if err := openBrowserFunc(s.ui, s.o.BrowserCommand)(ctx, u); err != nil {
					s.printf("could not open a browser (%v); open the URL above yourself\n", err)
				}
			}
		case <-done:
		}
	}()
	tok, err := oauth2cli.GetToken(withClient(ctx, p.client), oauth2cli.Config{
		OAuth2Config:            cfg,
		AuthCodeOptions:         a.authOpts,
		TokenRequestOptions:     a.tokenOpts,
		State:                   a.state,
		LocalServerBindAddress:  bind,
		LocalServerCallbackPath: redirect.Path,
		LocalServerReadyChan:    ready,
		LocalServerSuccessHTML:  s.successPage(),
		LocalServerCertFile:     s.o.LocalServerCertFile,
		LocalServerKeyFile:      s.o.LocalServerKeyFile,
	})
	close(done)
	wg.Wait()
	if err != nil {
		if strings.Contains(err.Error(), "no available port") {
			return nil, fmt.Errorf("authorization code flow: cannot listen on any --listen-address (%s): %w", strings.Join(s.o.ListenAddresses, ","), err)
		}
		return nil, fmt.Errorf("authorization code flow: %w", describeTLSError(err))
	}
	return p.verify(ctx, tok, a.nonce, false)
}

// localRedirect returns the addresses the local server of the authcode flow
// binds (tried in order), and the redirect URI sent to the provider, whose
// path is the server's callback path.
//
// With a loopback --oidc-redirect-url that names a port, the server listens
// on that port (on the --listen-address host of the same port, else on the
// URL's loopback IP; 127.0.0.1 for localhost). Otherwise the first free
// --listen-address is picked here, so that the redirect URI can name its
// port with --oidc-redirect-url-hostname (default 127.0.0.1) instead of
// oauth2cli's localhost.
func localRedirect(o *Options) ([]string, *url.URL, error) {
	if o.RedirectURL != "" {
		u, err := url.Parse(o.RedirectURL)
		if err != nil {
			return nil, nil, fmt.Errorf("--oidc-redirect-url: %w", err)
		}
		if u.Path == "" {
			u.Path = "/"
		}
		if u.Port() == "" {
			return o.ListenAddresses, u, nil
		}
		for _, a := range o.ListenAddresses {
			if _, p, err := net.SplitHostPort(a); err == nil && p == u.Port() {
				return []string{a}, u, nil
			}
		}
		host := u.Hostname()
		if host == "localhost" {
			host = "127.0.0.1"
		}
		return []string{net.JoinHostPort(host, u.Port())}, u, nil
	}
	addr, err := pickListenAddress(o.ListenAddresses)
	if err != nil {
		return nil, nil, err
	}
	listenHost, port, _ := net.SplitHostPort(addr)
	host := strings.Trim(o.RedirectURLHostname, "[]")
	if ip := net.ParseIP(listenHost); ip != nil && ip.IsLoopback() && net.ParseIP(host) != nil {
		// The IP the server listens on, e.g. ::1 for --listen-address=[::1]:0.
		host = listenHost
	}
	scheme := "http"
	if o.LocalServerCertFile != "" {
		scheme = "https"
	}
	return []string{addr}, &url.URL{Scheme: scheme, Host: net.JoinHostPort(host, port), Path: "/"}, nil
}

// pickListenAddress returns the first of candidates that can be listened on,
// with port 0 resolved to the port the system chose. The listener is closed
// again for oauth2cli to open; should another process take the port in
// between, oauth2cli fails to listen and the sign-in fails with that error.
func pickListenAddress(candidates []string) (string, error) {
	var errs []error
	for _, a := range candidates {
		l, err := net.Listen("tcp", a)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		addr := l.Addr().String()
		if err := l.Close(); err != nil {
			return "", fmt.Errorf("local server: %w", err)
		}
		return addr, nil
	}
	return "", fmt.Errorf("authorization code flow: cannot listen on any --listen-address (%s): %w", strings.Join(candidates, ","), errors.Join(errs...))
}

// authCodeKeyboard prints the authorization URL (redirect to
// --oidc-redirect-url or urn:ietf:wg:oauth:2.0:oob) and reads the code, or
// the whole URL the browser ended on, from the terminal.
func (s *session) authCodeKeyboard(ctx context.Context, p *idp) (*verifiedToken, error) {
	a, err := s.newAuthParams(p)
	if err != nil {
		return nil, err
	}
	cfg := p.config
	cfg.RedirectURL = s.o.RedirectURL
	if cfg.RedirectURL == "" {
		cfg.RedirectURL = KeyboardRedirectURL
	}
	s.printf("Open this URL in a browser (on any machine) and sign in at %s:\n\n    %s\n\n", s.issuerHost(), cfg.AuthCodeURL(a.state, a.authOpts...))
	s.printf("Enter the code shown after signing in at %s (or the whole URL the browser ended on): ", s.issuerHost())
	line, err := s.readLine(ctx)
	if err != nil {
		return nil, fmt.Errorf("read the authorization code: %w", err)
	}
	code, err := parsePastedCode(line, a.state)
	if err != nil {
		return nil, err
	}
	tok, err := cfg.Exchange(withClient(ctx, p.client), code, a.tokenOpts...)
	if err != nil {
		return nil, fmt.Errorf("exchange the authorization code: %w", describeTLSError(err))
	}
	return p.verify(ctx, tok, a.nonce, false)
}

// parsePastedCode accepts a bare code or a redirect URL carrying code and
// state (whose state must match).
func parsePastedCode(line, wantState string) (string, error) {
	line = strings.TrimSpace(line)
	if line == "" {
		return "", errors.New("no authorization code entered")
	}
	if strings.Contains(line, "code=") || strings.Contains(line, "error=") {
		raw := line
		if i := strings.Index(raw, "?"); i >= 0 {
			raw = raw[i+1:]
		}
		q, err := url.ParseQuery(raw)
		if err == nil {
			if e := q.Get("error"); e != "" {
				return "", fmt.Errorf("the provider refused the sign-in: %s %s", e, q.Get("error_description"))
			}
			if q.Get("code") != "" {
				if st := q.Get("state"); st != "" && st != wantState {
					return "", errors.New("the state in the pasted URL does not match this sign-in (an old or foreign URL?): sign in again")
				}
				return q.Get("code"), nil
			}
		}
	}
	return line, nil
}

// deviceCode runs the device authorization grant (RFC 8628).
func (s *session) deviceCode(ctx context.Context, p *idp) (*verifiedToken, error) {
	if p.provider.Endpoint().DeviceAuthURL == "" {
		return nil, fmt.Errorf("the provider at %s has no device_authorization_endpoint: use another --grant-type", s.o.IssuerURL)
	}
	cctx := withClient(ctx, p.client)
	var opts []oauth2.AuthCodeOption
	if p.config.ClientSecret != "" {
		// RFC 8628 leaves client authentication to the token endpoint's rules;
		// Dex wants the secret in the device authorization form.
		opts = append(opts, oauth2.SetAuthURLParam("client_secret", p.config.ClientSecret))
	}
	for k, v := range s.o.AuthRequestExtraParams {
		opts = append(opts, oauth2.SetAuthURLParam(k, v))
	}
	da, err := p.config.DeviceAuth(cctx, opts...)
	if err != nil {
		return nil, fmt.Errorf("device authorization: %w", describeTLSError(err))
	}
	open := da.VerificationURIComplete
	if open == "" {
		open = da.VerificationURI
	}
	if da.VerificationURIComplete != "" {
		s.printf("Open this URL to sign in at %s and confirm the code %s:\n\n    %s\n\n", s.issuerHost(), da.UserCode, da.VerificationURIComplete)
	} else {
		s.printf("Open %s and enter the code %s to sign in at %s\n", da.VerificationURI, da.UserCode, s.issuerHost())
	}
	if !s.o.SkipOpenBrowser && browserAvailable(s.ui, &s.o, s.env) {
		if err := openBrowserFunc(s.ui, s.o.BrowserCommand)(ctx, open); err != nil {
			s.printf("could not open a browser (%v); open the URL above yourself\n", err)
		}
	}
	tok, err := p.config.DeviceAccessToken(cctx, da)
	if err != nil {
		return nil, fmt.Errorf("device code flow: %w", err)
	}
	return p.verify(ctx, tok, "", false)
}

// password runs the resource owner password grant, prompting for what is missing.
func (s *session) password(ctx context.Context, p *idp) (*verifiedToken, error) {
	user, pass := s.o.Username, s.o.Password
	var err error
	if user == "" {
		s.printf("Username at %s: ", s.issuerHost())
		if user, err = s.readLine(ctx); err != nil {
			return nil, fmt.Errorf("read the username: %w", err)
		}
		user = strings.TrimSpace(user)
	}
	if pass == "" {
		if pass, err = s.readPassword(termsafe.String(fmt.Sprintf("Password of %s at %s: ", user, s.issuerHost()))); err != nil {
			return nil, err
		}
	}
	tok, err := p.config.PasswordCredentialsToken(withClient(ctx, p.client), user, pass)
	if err != nil {
		return nil, fmt.Errorf("password grant for %q: %w", user, describeTLSError(err))
	}
	return p.verify(ctx, tok, "", false)
}

// clientCredentials runs the client credentials grant (for CI).
func (s *session) clientCredentials(ctx context.Context, p *idp) (*verifiedToken, error) {
	cfg := clientcredentials.Config{
		ClientID:     p.config.ClientID,
		ClientSecret: p.config.ClientSecret,
		TokenURL:     p.config.Endpoint.TokenURL,
		Scopes:       p.config.Scopes,
	}
	tok, err := cfg.Token(withClient(ctx, p.client))
	if err != nil {
		return nil, fmt.Errorf("client credentials grant: %w", describeTLSError(err))
	}
	return p.verify(ctx, tok, "", s.o.UseAccessToken)
}

// issuerHost is the issuer's host (and port), for prompts: the person sees
// which provider asks before typing anything.
func (s *session) issuerHost() string {
	if u, err := url.Parse(s.o.IssuerURL); err == nil && u.Host != "" {
		return u.Host
	}
	return s.o.IssuerURL
}

// readLine reads one line from ui.In, giving up when ctx ends.
func (s *session) readLine(ctx context.Context) (string, error) {
	if s.ui.In == nil {
		return "", errors.New("no input to read from")
	}
	type result struct {
		line string
		err  error
	}
	ch := make(chan result, 1)
	go func() {
		line, err := s.input().ReadString('\n')
		if err == io.EOF && line != "" {
			err = nil
		}
		ch <- result{line, err}
	}()
	select {
	case r := <-ch:
		return strings.TrimRight(r.line, "\r\n"), r.err
	case <-ctx.Done():
		return "", ctx.Err()
	}
}

// input is the one buffered reader over ui.In, so that successive reads
// never lose what an earlier one buffered.
func (s *session) input() *bufio.Reader {
	s.inOnce.Do(func() { s.in = bufio.NewReader(s.ui.In) })
	return s.in
}

// readPassword reads a password without echo, through ui.ReadPassword or
// the terminal behind ui.In.
func (s *session) readPassword(prompt string) (string, error) {
	if s.ui.ReadPassword != nil {
		p, err := s.ui.ReadPassword(prompt)
		if err != nil {
			return "", fmt.Errorf("read the password: %w", err)
		}
		return p, nil
	}
	f, ok := s.ui.In.(*os.File)
	if !ok || !term.IsTerminal(int(f.Fd())) {
		return "", errors.New("cannot prompt for the password: standard input is not a terminal; pass --password")
	}
	s.printf("%s", prompt)
	b, err := term.ReadPassword(int(f.Fd()))
	s.printf("\n")
	if err != nil {
		return "", fmt.Errorf("read the password: %w", err)
	}
	return string(b), nil
}
