package login

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/kube-oidc/kube-oidc/internal/termsafe"
)

// httpClientOptions configure newHTTPClient.
type httpClientOptions struct {
	ca        []byte // PEM roots; nil for the system roots
	insecure  bool
	verbosity int
	log       io.Writer // where verbosity >= 1 logs exchanges
	// timeout bounds each request, body included; notice is how long a
	// request waits for its response before onSlow is called (once per client).
	timeout, notice time.Duration
	onSlow          func(host string)
	// headers are set on every request (--oidc-request-header).
	headers map[string]string
	// renegotiation is the TLS renegotiation the provider may ask for.
	renegotiation tls.RenegotiationSupport
}

// newHTTPClient returns the client for talking to the identity provider:
// TLS per --certificate-authority(-data) / --insecure-skip-tls-verify, every
// request bounded by --oidc-request-timeout with a notice after
// --oidc-request-notice, and with verbosity >= 1 a transport that logs each
// exchange with every secret redacted.
func newHTTPClient(o httpClientOptions) (*http.Client, error) {
	tlsConfig := &tls.Config{MinVersion: tls.VersionTLS12, Renegotiation: o.renegotiation}
	if len(o.ca) > 0 {
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(o.ca) {
			return nil, errors.New("no PEM certificate found in --certificate-authority / --certificate-authority-data")
		}
		tlsConfig.RootCAs = pool
	}
	if o.insecure {
		tlsConfig.InsecureSkipVerify = true // --insecure-skip-tls-verify, asked for explicitly
	}
	base := http.DefaultTransport.(*http.Transport).Clone()
	base.TLSClientConfig = tlsConfig
	if o.timeout > 0 {
		// The request's own deadline covers the handshake, with one error.
		base.TLSHandshakeTimeout = 0
	}
	var rt http.RoundTripper = base
	if len(o.headers) > 0 {
		rt = &headerTransport{next: rt, headers: o.headers}
	}
	if o.verbosity >= 1 && o.log != nil {
		rt = &loggingTransport{next: base, w: o.log, bodies: o.verbosity >= 2}
	}
	if o.timeout > 0 {
		rt = &boundedTransport{next: rt, timeout: o.timeout, notice: o.notice, onSlow: o.onSlow}
	}
	return &http.Client{Transport: rt}, nil
}

// headerTransport sets fixed headers on every request, on a copy of it.
type headerTransport struct {
	next    http.RoundTripper
	headers map[string]string
}

func (t *headerTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	req = req.Clone(req.Context())
	for k, v := range t.headers {
		req.Header.Set(k, v)
	}
	return t.next.RoundTrip(req)
}

// RequestTimeoutError: the identity provider did not answer one request
// within --oidc-request-timeout.
type RequestTimeoutError struct {
	Host    string
	Timeout time.Duration
}

func (e *RequestTimeoutError) Error() string {
	return fmt.Sprintf("the identity provider at %s did not answer within %s (--oidc-request-timeout): check that it is up and reachable from here", e.Host, e.Timeout)
}

// Unwrap makes the error match context.DeadlineExceeded.
func (e *RequestTimeoutError) Unwrap() error { return context.DeadlineExceeded }

// boundedTransport gives every request its own deadline and reports, once,
// a request that waits longer than notice for its response.
type boundedTransport struct {
	next            http.RoundTripper
	timeout, notice time.Duration
	onSlow          func(host string)
	once            sync.Once
}

func (t *boundedTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	ctx, cancel := context.WithTimeout(req.Context(), t.timeout)
	var timer *time.Timer
	if t.onSlow != nil && t.notice > 0 && t.notice < t.timeout {
		host := req.URL.Host
		timer = time.AfterFunc(t.notice, func() { t.once.Do(func() { t.onSlow(host) }) })
	}
	resp, err := t.next.RoundTrip(req.WithContext(ctx))
	if timer != nil {
		timer.Stop()
	}
	if err != nil {
		expired := errors.Is(ctx.Err(), context.DeadlineExceeded) && req.Context().Err() == nil
		cancel()
		if expired {
			return nil, &RequestTimeoutError{Host: req.URL.Host, Timeout: t.timeout}
		}
		return nil, err
	}
	resp.Body = &cancelOnClose{ReadCloser: resp.Body, cancel: cancel, ctx: ctx, parent: req.Context(), host: req.URL.Host, timeout: t.timeout}
	return resp, nil
}

// cancelOnClose ends the request's deadline when its body is closed and
// turns a body read cut by that deadline into a RequestTimeoutError.
type cancelOnClose struct {
	io.ReadCloser
	cancel      context.CancelFunc
	ctx, parent context.Context
	host        string
	timeout     time.Duration
}

func (c *cancelOnClose) Read(p []byte) (int, error) {
	n, err := c.ReadCloser.Read(p)
	if err != nil && err != io.EOF && errors.Is(c.ctx.Err(), context.DeadlineExceeded) && c.parent.Err() == nil {
		return n, &RequestTimeoutError{Host: c.host, Timeout: c.timeout}
	}
	return n, err
}

func (c *cancelOnClose) Close() error {
	err := c.ReadCloser.Close()
	c.cancel()
	return err
}

// describeTLSError turns an untrusted-certificate error into an actionable
// one; other errors are returned as they are.
func describeTLSError(err error) error {
	var unknown x509.UnknownAuthorityError
	var hostname x509.HostnameError
	var invalid x509.CertificateInvalidError
	switch {
	case errors.As(err, &unknown):
		return fmt.Errorf("the identity provider's TLS certificate is not trusted (%w): pass its CA with --certificate-authority or --certificate-authority-data", err)
	case errors.As(err, &hostname):
		return fmt.Errorf("the identity provider's TLS certificate does not match its host name (%w): check --oidc-issuer-url", err)
	case errors.As(err, &invalid):
		return fmt.Errorf("the identity provider's TLS certificate is invalid (%w)", err)
	}
	return err
}

// sensitiveParams are form, query and JSON fields whose values are never logged.
var sensitiveParams = map[string]bool{
	"code": true, "code_verifier": true, "client_secret": true, "password": true,
	"refresh_token": true, "access_token": true, "id_token": true, "device_code": true,
	"token": true, "assertion": true, "client_assertion": true, "state": true, "nonce": true,
	"subject_token": true, "actor_token": true,
}

const redacted = "REDACTED"

// loggingTransport logs request lines (and with bodies, headers and bodies)
// with every token, code, password and secret replaced by REDACTED.
type loggingTransport struct {
	next   http.RoundTripper
	bodies bool
	mu     sync.Mutex
	w      io.Writer
}

func (t *loggingTransport) logf(format string, args ...any) {
	t.mu.Lock()
	defer t.mu.Unlock()
	fmt.Fprintln(t.w, "http: "+termsafe.String(fmt.Sprintf(format, args...)))
}

func (t *loggingTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	start := time.Now()
	t.logf("%s %s", req.Method, redactURL(req.URL))
	if t.bodies {
		t.logf("> headers: %s", redactHeaders(req.Header))
		if req.Body != nil && req.GetBody != nil {
			if b, err := req.GetBody(); err == nil {
				data, _ := io.ReadAll(io.LimitReader(b, 1<<20))
				_ = b.Close()
				t.logf("> body: %s", redactBody(req.Header.Get("Content-Type"), data))
			}
		}
	}
	resp, err := t.next.RoundTrip(req)
	if err != nil {
		t.logf("%s %s: %v (%s)", req.Method, redactURL(req.URL), err, time.Since(start).Round(time.Millisecond))
		return nil, err
	}
	t.logf("%s %s -> %s (%s)", req.Method, redactURL(req.URL), resp.Status, time.Since(start).Round(time.Millisecond))
	if t.bodies && resp.Body != nil {
		data, rerr := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
		_ = resp.Body.Close()
		resp.Body = io.NopCloser(bytes.NewReader(data))
		if rerr != nil {
			return nil, rerr
		}
		t.logf("< headers: %s", redactHeaders(resp.Header))
		t.logf("< body: %s", redactBody(resp.Header.Get("Content-Type"), data))
	}
	return resp, nil
}

func redactURL(u *url.URL) string {
	if u.RawQuery == "" {
		return u.Redacted()
	}
	c := *u
	c.RawQuery = redactValues(u.Query()).Encode()
	return c.Redacted()
}

func redactValues(v url.Values) url.Values {
	out := url.Values{}
	for k, vs := range v {
		if sensitiveParams[k] {
			out[k] = []string{redacted}
			continue
		}
		out[k] = vs
	}
	return out
}

func redactHeaders(h http.Header) string {
	var b strings.Builder
	for k, vs := range h {
		v := strings.Join(vs, ", ")
		switch http.CanonicalHeaderKey(k) {
		case "Authorization", "Proxy-Authorization", "Cookie", "Set-Cookie":
			v = redacted
		case "Location":
			if u, err := url.Parse(v); err == nil {
				v = redactURL(u)
			}
		}
		fmt.Fprintf(&b, "%s=%q ", k, v)
	}
	return strings.TrimSpace(b.String())
}

// redactBody shows form and JSON bodies with sensitive fields replaced;
// anything else only by its size (it could hold anything).
func redactBody(contentType string, data []byte) string {
	if len(data) == 0 {
		return "(empty)"
	}
	ct := strings.ToLower(contentType)
	switch {
	case strings.Contains(ct, "application/x-www-form-urlencoded"):
		v, err := url.ParseQuery(string(data))
		if err != nil {
			return fmt.Sprintf("(%d bytes of unparsable form)", len(data))
		}
		return redactValues(v).Encode()
	case strings.Contains(ct, "json"):
		var m map[string]any
		if err := json.Unmarshal(data, &m); err != nil {
			return fmt.Sprintf("(%d bytes of JSON that is not an object)", len(data))
		}
		for k := range m {
			if sensitiveParams[k] {
				m[k] = redacted
			}
		}
		out, err := json.Marshal(m)
		if err != nil {
			return fmt.Sprintf("(%d bytes of JSON)", len(data))
		}
		return string(out)
	}
	return fmt.Sprintf("(%d bytes of %s)", len(data), contentType)
}
