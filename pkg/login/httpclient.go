package login

import (
	"bytes"
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
)

// newHTTPClient returns the client for talking to the identity provider:
// TLS per --certificate-authority(-data) / --insecure-skip-tls-verify, and
// with verbosity >= 1 a transport that logs each exchange to w with every
// secret redacted.
func newHTTPClient(ca []byte, insecure bool, verbosity int, w io.Writer) (*http.Client, error) {
	tlsConfig := &tls.Config{MinVersion: tls.VersionTLS12}
	if len(ca) > 0 {
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(ca) {
			return nil, errors.New("no PEM certificate found in --certificate-authority / --certificate-authority-data")
		}
		tlsConfig.RootCAs = pool
	}
	if insecure {
		tlsConfig.InsecureSkipVerify = true // --insecure-skip-tls-verify, asked for explicitly
	}
	base := http.DefaultTransport.(*http.Transport).Clone()
	base.TLSClientConfig = tlsConfig
	var rt http.RoundTripper = base
	if verbosity >= 1 && w != nil {
		rt = &loggingTransport{next: base, w: w, bodies: verbosity >= 2}
	}
	return &http.Client{Transport: rt}, nil
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
	fmt.Fprintf(t.w, "http: "+format+"\n", args...)
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
