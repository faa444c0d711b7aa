// Package accesslog formats oidc-proxy's access-log lines: one line per
// request, either one JSON object or kube-oidc-proxy's SIEM line. The
// encoders append to a caller's buffer and escape every value, so no user
// name, group, header or path can break a line or forge another one.
package accesslog

import (
	"fmt"
	"maps"
	"net"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"k8s.io/apiserver/pkg/authentication/user"
)

// Format is an access-log line format.
type Format string

const (
	// JSON is one JSON object per line (the default): time, level, msg,
	// user, groups, verb, method, path, code, duration (ns), peer, and
	// authFailure / outbound when there are any.
	JSON Format = "json"
	// SIEM is kube-oidc-proxy's line format:
	//
	//	[2006-01-02T15:04:05-0700] AuSuccess src:[peer / X-Forwarded-For] URI:/path?query inbound:[user / g1|g2 / k=v1|v2 ] outbound:[...]
	//	[2006-01-02T15:04:05-0700] AuFail src:[peer / X-Forwarded-For] URI:/path?query
	SIEM Format = "siem"
)

// Formats lists the accepted formats, default first.
var Formats = []Format{JSON, SIEM}

// ParseFormat checks a --access-log-format value.
func ParseFormat(s string) (Format, error) {
	f := Format(strings.ToLower(strings.TrimSpace(s)))
	if !slices.Contains(Formats, f) {
		return "", fmt.Errorf("unknown access log format %q (want json or siem)", s)
	}
	return f, nil
}

// Entry is what one line says about a finished request.
type Entry struct {
	// Start is when the request arrived; End when it was done.
	Start, End time.Time
	Verb       string // Kubernetes verb (list, get, watch, ...)
	Method     string
	Path       string // URL path, without the query
	// RequestURI is the request target as sent (path and query); the
	// SIEM line shows it with credential-like query values redacted.
	RequestURI string
	Code       int
	// Peer is the TCP peer (http.Request.RemoteAddr, host:port).
	Peer string
	// ForwardedFor are the client's X-Forwarded-For header values, shown
	// by the SIEM line only, as what the client claims.
	ForwardedFor []string
	// Inbound is the authenticated user, nil when authentication failed
	// or did not happen.
	Inbound user.Info
	// Outbound is the identity forwarded when it differs from Inbound
	// (end-user impersonation); nil otherwise.
	Outbound user.Info
	// AuthAttempted tells whether the request went through
	// authentication (health probes and public paths do not).
	AuthAttempted bool
	// Forwarded tells whether the request was passed on to the API server.
	Forwarded bool
	// AuthFailure is why authentication failed (never a token).
	AuthFailure string
}

// Append appends e's line, newline included, in format f. It returns dst
// unchanged when f writes no line for e (the SIEM format logs only
// authentication outcomes, not health probes or public paths).
func (f Format) Append(dst []byte, e *Entry) []byte {
	if f == SIEM {
		return AppendSIEM(dst, e)
	}
	return AppendJSON(dst, e)
}

// AppendJSON appends e as one JSON object and a newline. The keys and value
// encodings are those of log/slog's JSON handler, which wrote this line
// before: time in RFC 3339 with nanoseconds, level INFO, msg "request",
// duration in nanoseconds, groups null when there are none.
func AppendJSON(b []byte, e *Entry) []byte {
	b = append(b, `{"time":"`...)
	b = e.End.AppendFormat(b, time.RFC3339Nano)
	b = append(b, `","level":"INFO","msg":"request","user":`...)
	var groups []string
	if e.Inbound != nil {
		b = appendJSONString(b, e.Inbound.GetName())
		groups = e.Inbound.GetGroups()
	} else {
		b = append(b, `""`...)
	}
	b = append(b, `,"groups":`...)
	b = appendJSONStrings(b, groups)
	b = append(b, `,"verb":`...)
	b = appendJSONString(b, e.Verb)
	b = append(b, `,"method":`...)
	b = appendJSONString(b, e.Method)
	b = append(b, `,"path":`...)
	b = appendJSONString(b, e.Path)
	b = append(b, `,"code":`...)
	b = strconv.AppendInt(b, int64(e.Code), 10)
	b = append(b, `,"duration":`...)
	b = strconv.AppendInt(b, int64(e.End.Sub(e.Start)), 10)
	b = append(b, `,"peer":`...)
	b = appendJSONString(b, e.Peer)
	if e.AuthFailure != "" {
		b = append(b, `,"authFailure":`...)
		b = appendJSONString(b, e.AuthFailure)
	}
	if o := e.Outbound; o != nil {
		b = append(b, `,"outbound":{"user":`...)
		b = appendJSONString(b, o.GetName())
		b = append(b, `,"groups":`...)
		b = appendJSONStrings(b, o.GetGroups())
		if uid := o.GetUID(); uid != "" {
			b = append(b, `,"uid":`...)
			b = appendJSONString(b, uid)
		}
		if extra := o.GetExtra(); len(extra) > 0 {
			b = append(b, `,"extra":{`...)
			for i, k := range slices.Sorted(maps.Keys(extra)) {
				if i > 0 {
					b = append(b, ',')
				}
				b = appendJSONString(b, k)
				b = append(b, ':')
				b = appendJSONStrings(b, extra[k])
			}
			b = append(b, '}')
		}
		b = append(b, '}')
	}
	return append(b, "}\n"...)
}

func appendJSONStrings(b []byte, ss []string) []byte {
	if ss == nil {
		return append(b, "null"...)
	}
	b = append(b, '[')
	for i, s := range ss {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendJSONString(b, s)
	}
	return append(b, ']')
}

const hexDigits = "0123456789abcdef"

// appendJSONString appends s as a quoted JSON string: '"' and '\\'
// escaped, control characters as \n \r \t or \u00XX, invalid UTF-8 as
// \ufffd, and U+2028 / U+2029 escaped (the escapes log/slog uses).
func appendJSONString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
		case r == '\u2028' || r == '\u2029':
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hexDigits[r&0xf])
		default:
			i += size
			continue
		}
		i += size
		start = i
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}

// SIEMTimeLayout is the timestamp of a SIEM line (ISO 8601, local time,
// numeric zone without colon), as kube-oidc-proxy wrote it.
const SIEMTimeLayout = "2006-01-02T15:04:05-0700"

// AppendSIEM appends e as kube-oidc-proxy's line: AuSuccess for a request
// that was authenticated and forwarded, AuFail for one refused by
// authentication or by the proxy's own checks after it, and nothing for a
// request that never went through authentication. The timestamp is the
// request's arrival, the source is the TCP peer's IP (IPv6 without
// brackets) and the X-Forwarded-For entries other than that IP.
func AppendSIEM(b []byte, e *Entry) []byte {
	success := e.Forwarded && e.Inbound != nil
	if !success && !e.AuthAttempted {
		return b
	}
	b = append(b, '[')
	b = e.Start.AppendFormat(b, SIEMTimeLayout)
	if success {
		b = append(b, "] AuSuccess src:["...)
	} else {
		b = append(b, "] AuFail src:["...)
	}
	ip := peerIP(e.Peer)
	b = appendSIEM(b, ip)
	b = append(b, " / "...)
	b = appendForwardedFor(b, e.ForwardedFor, ip)
	b = append(b, "] URI:"...)
	b = appendEscaped(b, redactQuery(e.RequestURI), uriEscapes)
	if success {
		b = append(b, " inbound:["...)
		b = appendSIEM(b, e.Inbound.GetName())
		b = append(b, " / "...)
		b = appendSIEMList(b, e.Inbound.GetGroups())
		b = append(b, " / "...)
		b = appendSIEMExtra(b, e.Inbound.GetExtra())
		b = append(b, ']')
		if o := e.Outbound; o != nil {
			b = append(b, " outbound:["...)
			b = appendSIEM(b, o.GetName())
			b = append(b, " / "...)
			b = appendSIEMList(b, o.GetGroups())
			b = append(b, " / "...)
			b = appendSIEM(b, o.GetUID())
			b = append(b, " / "...)
			b = appendSIEMExtra(b, o.GetExtra())
			b = append(b, ']')
		}
	}
	return append(b, '\n')
}

// peerIP is the host part of a host:port peer address (brackets of an
// IPv6 address removed), or the whole address when it has no port.
func peerIP(peer string) string {
	if host, _, err := net.SplitHostPort(peer); err == nil {
		return host
	}
	return peer
}

// appendForwardedFor writes the comma-separated X-Forwarded-For entries of
// every header value, leaving out the peer's own IP (it is shown already),
// joined with ", ".
func appendForwardedFor(b []byte, values []string, ip string) []byte {
	first := true
	for _, v := range values {
		for entry := range strings.SplitSeq(v, ",") {
			entry = strings.TrimSpace(entry)
			if entry == "" || entry == ip {
				continue
			}
			if !first {
				b = append(b, ", "...)
			}
			first = false
			b = appendSIEM(b, entry)
		}
	}
	return b
}

// appendSIEMList writes ss joined by '|'. An empty element is written as
// "" so that a list of one empty string differs from an empty list.
func appendSIEMList(b []byte, ss []string) []byte {
	for i, s := range ss {
		if i > 0 {
			b = append(b, '|')
		}
		if s == "" {
			b = append(b, `""`...)
			continue
		}
		b = appendSIEM(b, s)
	}
	return b
}

// appendSIEMExtra writes "key=v1|v2 " per key, in key order.
func appendSIEMExtra(b []byte, extra map[string][]string) []byte {
	if len(extra) == 0 {
		return b
	}
	for _, k := range slices.Sorted(maps.Keys(extra)) {
		b = appendSIEM(b, k)
		b = append(b, '=')
		b = appendSIEMList(b, extra[k])
		b = append(b, ' ')
	}
	return b
}

// asciiSet is a set of ASCII bytes.
type asciiSet [utf8.RuneSelf]bool

// escapeSet returns the control characters (0x00-0x1f), DEL and the given
// bytes.
func escapeSet(chars string) *asciiSet {
	var s asciiSet
	for c := range 0x20 {
		s[c] = true
	}
	s[0x7f] = true
	for i := range len(chars) {
		s[chars[i]] = true
	}
	return &s
}

var (
	// fieldEscapes are the ASCII bytes escaped in an identity or address
	// field: the backslash of the escapes, every separator of the line
	// (' ', " / ", '|', '=', ", ", the brackets) and '"' (written alone,
	// "" is an empty list element).
	fieldEscapes = escapeSet("\\ /|=,[]\"")
	// uriEscapes are those of the URI field, which only a space ends:
	// '/', '=', ',' stay, they are the URI's own syntax.
	uriEscapes = escapeSet("\\ |[]\"")
)

// appendSIEM appends an identity or address field (user, group, uid, extra
// key or value, IP, X-Forwarded-For entry) escaped, see appendEscaped.
func appendSIEM(b []byte, s string) []byte { return appendEscaped(b, s, fieldEscapes) }

// appendEscaped appends s with every byte of set and every character that
// could end the line, fake a separator or hide text escaped: the
// backslash as \\, \n \r \t, other bytes of set (controls, DEL, the
// separators) and invalid UTF-8 bytes as \xNN; Unicode control, format
// (bidirectional overrides, zero-width characters) and space or separator
// characters (U+0085, U+00A0, U+2028, U+2029, ...) as \uNNNN, or
// \UNNNNNNNN above U+FFFF. The escape is lossless: ParseSIEM in the tests
// gives back s byte for byte.
func appendEscaped(b []byte, s string, set *asciiSet) []byte {
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if !set[c] {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '\\':
				b = append(b, '\\', '\\')
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'x', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'x', hexDigits[c>>4], hexDigits[c&0xf])
		case unicode.In(r, unicode.Cc, unicode.Cf, unicode.Z):
			b = append(b, s[start:i]...)
			if r > 0xffff {
				b = append(b, '\\', 'U', hexDigits[r>>28&0xf], hexDigits[r>>24&0xf], hexDigits[r>>20&0xf], hexDigits[r>>16&0xf])
			} else {
				b = append(b, '\\', 'u')
			}
			b = append(b, hexDigits[r>>12&0xf], hexDigits[r>>8&0xf], hexDigits[r>>4&0xf], hexDigits[r&0xf])
		default:
			i += size
			continue
		}
		i += size
		start = i
	}
	return append(b, s[start:]...)
}

// credentialParams are query parameter names whose values are never
// logged (compared case-insensitively, as substrings): Kubernetes clients
// send no credentials in the query, but a misconfigured one might.
var credentialParams = []string{"token", "secret", "password", "passwd", "credential", "key"}

// redactQuery returns uri with the values of credential-like query
// parameters replaced by "REDACTED".
func redactQuery(uri string) string {
	path, query, ok := strings.Cut(uri, "?")
	if !ok || !strings.Contains(query, "=") {
		return uri
	}
	changed := false
	parts := strings.Split(query, "&")
	for i, p := range parts {
		name, _, hasValue := strings.Cut(p, "=")
		if !hasValue {
			continue
		}
		if n, err := url.QueryUnescape(name); err == nil {
			name = n
		}
		name = strings.ToLower(name)
		for _, c := range credentialParams {
			if strings.Contains(name, c) {
				parts[i] = p[:strings.IndexByte(p, '=')+1] + "REDACTED"
				changed = true
				break
			}
		}
	}
	if !changed {
		return uri
	}
	return path + "?" + strings.Join(parts, "&")
}
