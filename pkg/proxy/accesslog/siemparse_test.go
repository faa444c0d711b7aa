package accesslog

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// The bytes the format reserves, besides controls and DEL: in identity and
// address fields every separator of the line and '"' (an empty list element
// is ""); in the URI, which ends at a space, only the space, '|', the
// brackets and '"'. The backslash starts an escape everywhere.
const (
	fieldSpecials = "\\ /|=,[]\""
	uriSpecials   = "\\ |[]\""
)

// siemLine is what a SIEM line says, as parseSIEM reads it back.
type siemLine struct {
	Time         string // as written (SIEMTimeLayout)
	Success      bool   // AuSuccess, else AuFail
	SourceIP     string
	ForwardedFor []string
	URI          string
	// Inbound and Outbound are nil when the line has no such part.
	Inbound, Outbound *siemIdentity
}

type siemIdentity struct {
	Name   string
	Groups []string
	UID    string // outbound only
	Extra  map[string][]string
}

// parseSIEM is a strict reader of the SIEM line: every structural
// separator must be where the format puts it, and every field must be
// escaped exactly as appendEscaped escapes (a raw separator, control or
// format character inside a field, an unknown escape: error). It is the
// reference the encoder is held against (FuzzSIEMRoundTrip).
func parseSIEM(line string) (*siemLine, error) {
	rest, ok := strings.CutSuffix(line, "\n")
	if !ok || strings.ContainsAny(rest, "\r\n") {
		return nil, errors.New("not exactly one line")
	}
	if !utf8.ValidString(rest) {
		return nil, errors.New("invalid UTF-8")
	}
	var l siemLine
	if rest, ok = strings.CutPrefix(rest, "["); !ok {
		return nil, errors.New("no '[' before the time")
	}
	ts, rest, ok := strings.Cut(rest, "] ")
	if !ok || len(ts) != len(SIEMTimeLayout) {
		return nil, fmt.Errorf("bad time %q", ts)
	}
	l.Time = ts
	switch {
	case strings.HasPrefix(rest, "AuSuccess src:["):
		l.Success, rest = true, rest[len("AuSuccess src:["):]
	case strings.HasPrefix(rest, "AuFail src:["):
		rest = rest[len("AuFail src:["):]
	default:
		return nil, fmt.Errorf("bad outcome in %q", rest)
	}
	src, rest, ok := strings.Cut(rest, "] URI:")
	if !ok {
		return nil, errors.New("no src:[...] URI:")
	}
	parts, err := splitN(src, " / ", 2)
	if err != nil {
		return nil, fmt.Errorf("src: %w", err)
	}
	if l.SourceIP, err = unescape(parts[0], fieldSpecials); err != nil {
		return nil, fmt.Errorf("src ip: %w", err)
	}
	if parts[1] != "" {
		for e := range strings.SplitSeq(parts[1], ", ") {
			v, err := unescape(e, fieldSpecials)
			if err != nil || v == "" {
				return nil, fmt.Errorf("X-Forwarded-For entry %q: %v", e, err)
			}
			l.ForwardedFor = append(l.ForwardedFor, v)
		}
	}
	uri, rest, _ := strings.Cut(rest, " ")
	if l.URI, err = unescape(uri, uriSpecials); err != nil {
		return nil, fmt.Errorf("URI: %w", err)
	}
	if !l.Success {
		if rest != "" {
			return nil, fmt.Errorf("AuFail line goes on after the URI: %q", rest)
		}
		return &l, nil
	}
	if l.Inbound, rest, err = parseIdentity(rest, "inbound:[", 3); err != nil {
		return nil, err
	}
	if rest == "" {
		return &l, nil
	}
	rest, ok = strings.CutPrefix(rest, " ")
	if !ok {
		return nil, fmt.Errorf("no space before %q", rest)
	}
	if l.Outbound, rest, err = parseIdentity(rest, "outbound:[", 4); err != nil {
		return nil, err
	}
	if rest != "" {
		return nil, fmt.Errorf("trailing %q", rest)
	}
	return &l, nil
}

// parseIdentity reads "<label>user / groups / extras]" (n = 3) or
// "<label>user / groups / uid / extras]" (n = 4).
func parseIdentity(s, label string, n int) (*siemIdentity, string, error) {
	s, ok := strings.CutPrefix(s, label)
	if !ok {
		return nil, "", fmt.Errorf("no %q in %q", label, s)
	}
	body, rest, ok := strings.Cut(s, "]")
	if !ok {
		return nil, "", fmt.Errorf("%s not closed", label)
	}
	parts, err := splitN(body, " / ", n)
	if err != nil {
		return nil, "", fmt.Errorf("%s %w", label, err)
	}
	var id siemIdentity
	if id.Name, err = unescape(parts[0], fieldSpecials); err != nil {
		return nil, "", fmt.Errorf("%s user: %w", label, err)
	}
	if id.Groups, err = parseList(parts[1]); err != nil {
		return nil, "", fmt.Errorf("%s groups: %w", label, err)
	}
	if n == 4 {
		if id.UID, err = unescape(parts[2], fieldSpecials); err != nil {
			return nil, "", fmt.Errorf("%s uid: %w", label, err)
		}
	}
	if id.Extra, err = parseExtra(parts[n-1]); err != nil {
		return nil, "", fmt.Errorf("%s extra: %w", label, err)
	}
	return &id, rest, nil
}

func splitN(s, sep string, n int) ([]string, error) {
	parts := strings.Split(s, sep)
	if len(parts) != n {
		return nil, fmt.Errorf("%d fields in %q, want %d", len(parts), s, n)
	}
	return parts, nil
}

// parseList reads "a|b|c"; "" is the empty list and an element "" the
// empty string.
func parseList(s string) ([]string, error) {
	if s == "" {
		return nil, nil
	}
	var out []string
	for e := range strings.SplitSeq(s, "|") {
		if e == `""` {
			out = append(out, "")
			continue
		}
		if e == "" {
			return nil, fmt.Errorf("empty element written raw in %q", s)
		}
		v, err := unescape(e, fieldSpecials)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, nil
}

// parseExtra reads "k1=v1|v2 k2=v3 ": each key=values followed by a space.
func parseExtra(s string) (map[string][]string, error) {
	if s == "" {
		return nil, nil
	}
	body, ok := strings.CutSuffix(s, " ")
	if !ok {
		return nil, fmt.Errorf("%q does not end with a space", s)
	}
	out := map[string][]string{}
	for kv := range strings.SplitSeq(body, " ") {
		k, v, ok := strings.Cut(kv, "=")
		if !ok {
			return nil, fmt.Errorf("no '=' in %q", kv)
		}
		key, err := unescape(k, fieldSpecials)
		if err != nil {
			return nil, fmt.Errorf("key: %w", err)
		}
		if _, dup := out[key]; dup {
			return nil, fmt.Errorf("key %q twice", key)
		}
		vals, err := parseList(v)
		if err != nil {
			return nil, fmt.Errorf("key %q: %w", key, err)
		}
		if vals == nil {
			vals = []string{}
		}
		out[key] = vals
	}
	return out, nil
}

// unescape undoes appendEscaped for a field escaped with set, refusing
// anything the encoder would not have written.
func unescape(s string, specials string) (string, error) {
	mustEscape := func(c byte) bool { return c < 0x20 || c == 0x7f || strings.IndexByte(specials, c) >= 0 }
	var b strings.Builder
	for i := 0; i < len(s); {
		c := s[i]
		if c >= utf8.RuneSelf {
			r, size := utf8.DecodeRuneInString(s[i:])
			if r == utf8.RuneError && size == 1 {
				return "", fmt.Errorf("raw invalid UTF-8 at %d", i)
			}
			if unicode.In(r, unicode.Cc, unicode.Cf, unicode.Z) {
				return "", fmt.Errorf("raw %U at %d", r, i)
			}
			b.WriteString(s[i : i+size])
			i += size
			continue
		}
		if c != '\\' {
			if mustEscape(c) {
				return "", fmt.Errorf("raw %q at %d", c, i)
			}
			b.WriteByte(c)
			i++
			continue
		}
		if i+1 >= len(s) {
			return "", errors.New("lone backslash at the end")
		}
		switch e := s[i+1]; e {
		case '\\':
			b.WriteByte('\\')
			i += 2
		case 'n', 'r', 't':
			b.WriteByte(map[byte]byte{'n': '\n', 'r': '\r', 't': '\t'}[e])
			i += 2
		case 'x':
			if i+4 > len(s) {
				return "", errors.New("short \\x escape")
			}
			v, err := strconv.ParseUint(s[i+2:i+4], 16, 8)
			if err != nil || strings.ToLower(s[i+2:i+4]) != s[i+2:i+4] {
				return "", fmt.Errorf("bad \\x escape %q", s[i:i+4])
			}
			x := byte(v)
			if x < utf8.RuneSelf && (!mustEscape(x) || x == '\\' || x == '\n' || x == '\r' || x == '\t') {
				return "", fmt.Errorf("needless or non-canonical escape %q", s[i:i+4])
			}
			b.WriteByte(x)
			i += 4
		case 'u', 'U':
			n := 4
			if e == 'U' {
				n = 8
			}
			if i+2+n > len(s) {
				return "", fmt.Errorf("short \\%c escape", e)
			}
			v, err := strconv.ParseUint(s[i+2:i+2+n], 16, 32)
			r := rune(v)
			if err != nil || !utf8.ValidRune(r) || !unicode.In(r, unicode.Cc, unicode.Cf, unicode.Z) ||
				r < utf8.RuneSelf || (e == 'U') != (r > 0xffff) {
				return "", fmt.Errorf("bad escape %q", s[i:i+2+n])
			}
			b.WriteRune(r)
			i += 2 + n
		default:
			return "", fmt.Errorf("unknown escape \\%c", e)
		}
	}
	return b.String(), nil
}

// wantSIEM is what parseSIEM must read back from the line of e (nil: e
// writes no line).
func wantSIEM(e *Entry) *siemLine {
	success := e.Forwarded && e.Inbound != nil
	if !success && !e.AuthAttempted {
		return nil
	}
	l := &siemLine{Time: e.Start.Format(SIEMTimeLayout), Success: success, SourceIP: peerIP(e.Peer), URI: redactQuery(e.RequestURI)}
	for _, v := range e.ForwardedFor {
		for entry := range strings.SplitSeq(v, ",") {
			if entry = strings.TrimSpace(entry); entry != "" && entry != l.SourceIP {
				l.ForwardedFor = append(l.ForwardedFor, entry)
			}
		}
	}
	if !success {
		return l
	}
	l.Inbound = wantIdentity(e.Inbound, false)
	if e.Outbound != nil {
		l.Outbound = wantIdentity(e.Outbound, true)
	}
	return l
}

func wantIdentity(u interface {
	GetName() string
	GetUID() string
	GetGroups() []string
	GetExtra() map[string][]string
}, withUID bool) *siemIdentity {
	id := &siemIdentity{Name: u.GetName()}
	if withUID {
		id.UID = u.GetUID()
	}
	if g := u.GetGroups(); len(g) > 0 {
		id.Groups = g
	}
	if x := u.GetExtra(); len(x) > 0 {
		id.Extra = map[string][]string{}
		for k, v := range x {
			if v == nil {
				v = []string{}
			}
			id.Extra[k] = v
		}
	}
	return id
}
