package accesslog

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"reflect"
	"strings"
	"testing"
	"time"
	"unicode"
	"unicode/utf8"

	"k8s.io/apiserver/pkg/authentication/user"
)

var (
	zone  = time.FixedZone("CET", 3600)
	start = time.Date(2026, 11, 28, 18, 40, 1, 987_654_321, zone)
	end   = start.Add(2114 * time.Microsecond)
)

// hostile holds values a client or an identity provider could send.
var hostile = []string{
	`quote " and backslash \ and "}{"injected":1`,
	"new\nline and\r\ncarriage\ttab",
	"nul \x00 bell \x07 esc \x1b del \x7f",
	"invalid utf8 \xff\xfe and truncated \xe2\x82",
	"separators \u2028 \u2029 nel \u0085",
	"] AuSuccess src:[1.2.3.4 / ] fake|group",
	"unicode ✓ ünïcödé 日本",
	"",
}

// slogLine is what log/slog's JSON handler wrote for e before the
// hand-written encoder replaced it.
func slogLine(t *testing.T, e *Entry) []byte {
	t.Helper()
	var buf bytes.Buffer
	h := slog.NewJSONHandler(&buf, nil)
	r := slog.NewRecord(e.End, slog.LevelInfo, "request", 0)
	var name string
	var groups []string
	if e.Inbound != nil {
		name, groups = e.Inbound.GetName(), e.Inbound.GetGroups()
	}
	r.AddAttrs(
		slog.String("user", name),
		slog.Any("groups", groups),
		slog.String("verb", e.Verb),
		slog.String("method", e.Method),
		slog.String("path", e.Path),
		slog.Int("code", e.Code),
		slog.Duration("duration", e.End.Sub(e.Start)),
		slog.String("peer", e.Peer),
	)
	if e.AuthFailure != "" {
		r.AddAttrs(slog.String("authFailure", e.AuthFailure))
	}
	if err := h.Handle(context.Background(), r); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestJSONIsByteForByteTheFormerSlogLine(t *testing.T) {
	tests := []struct {
		name string
		e    Entry
	}{
		{"authenticated request", Entry{
			Start: start, End: end, Verb: "list", Method: "GET", Path: "/api/v1/namespaces/default/pods",
			Code: 200, Peer: "10.0.0.7:53312",
			Inbound: &user.DefaultInfo{Name: "https://issuer#1234", Groups: []string{"dev", "ops"}},
		}},
		{"failed authentication", Entry{
			Start: start, End: end, Verb: "get", Method: "GET", Path: "/api", Code: 401, Peer: "[::1]:40000",
			AuthFailure: `oidc: verify token: "<redacted>" expired`,
		}},
		{"no groups, slow request, UTC", Entry{
			Start: start.UTC(), End: start.UTC().Add(90 * time.Second), Verb: "watch", Method: "GET", Path: "/api/v1/pods",
			Code: 200, Peer: "127.0.0.1:1", Inbound: &user.DefaultInfo{Name: "alice"},
		}},
		{"escapes in strings and groups", Entry{
			Start: start, End: end, Verb: "other", Method: "GET", Path: "/x\n\"y\"\\z\u2028<&>",
			Code: 403, Peer: "p", Inbound: &user.DefaultInfo{Name: "a\"b\\c\nd\te", Groups: []string{"q\"uote", "ü", "<tag>"}},
		}},
		{"invalid UTF-8 in strings", Entry{
			Start: start, End: end, Verb: "get", Method: "GET", Path: "/\xff\xfe", Code: 200, Peer: "p",
			Inbound: &user.DefaultInfo{Name: "bad\xe2\x82utf8"},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := AppendJSON(nil, &tt.e)
			if want := slogLine(t, &tt.e); !bytes.Equal(got, want) {
				t.Fatalf("line differs from log/slog's\n got: %s\nwant: %s", got, want)
			}
		})
	}
}

// decoded is what a JSON decoder makes of s: each invalid UTF-8 byte
// becomes U+FFFD.
func decoded(s string) string { return string([]rune(s)) }

func TestJSONStaysOneValidObjectForHostileValues(t *testing.T) {
	for _, v := range hostile {
		t.Run(strings.ToValidUTF8(v, "?"), func(t *testing.T) {
			e := Entry{
				Start: start, End: end, Verb: v, Method: v, Path: v, Code: 200, Peer: v, AuthFailure: v,
				Inbound:  &user.DefaultInfo{Name: v, Groups: []string{v, v}},
				Outbound: &user.DefaultInfo{Name: v, UID: v, Groups: []string{v}, Extra: map[string][]string{v: {v}, "k": {v, v}}},
			}
			line := AppendJSON([]byte("previous line\n"), &e)
			line, ok := bytes.CutPrefix(line, []byte("previous line\n"))
			if !ok {
				t.Fatalf("the buffer's previous content changed")
			}
			if bytes.IndexByte(line, '\n') != len(line)-1 {
				t.Fatalf("not exactly one line: %q", line)
			}
			if !utf8.Valid(line) || !json.Valid(line) {
				t.Fatalf("not valid UTF-8 JSON: %q", line)
			}
			var got struct {
				Time, Level, Msg                            string
				User, Verb, Method, Path, Peer, AuthFailure string
				Groups                                      []string
				Code                                        int
				Duration                                    int64
				Outbound                                    struct {
					User, UID string
					Groups    []string
					Extra     map[string][]string
				}
			}
			dec := json.NewDecoder(bytes.NewReader(line))
			dec.DisallowUnknownFields()
			if err := dec.Decode(&got); err != nil {
				t.Fatalf("decode %q: %v", line, err)
			}
			d := decoded(v)
			for name, s := range map[string]string{"user": got.User, "verb": got.Verb, "method": got.Method, "path": got.Path,
				"peer": got.Peer, "authFailure": got.AuthFailure, "outbound.user": got.Outbound.User, "outbound.uid": got.Outbound.UID} {
				if s != d {
					t.Errorf("%s = %q, want %q", name, s, d)
				}
			}
			if !reflect.DeepEqual(got.Groups, []string{d, d}) || !reflect.DeepEqual(got.Outbound.Groups, []string{d}) {
				t.Errorf("groups %q, outbound groups %q", got.Groups, got.Outbound.Groups)
			}
			if want := map[string][]string{d: {d}, "k": {d, d}}; !reflect.DeepEqual(got.Outbound.Extra, want) {
				t.Errorf("outbound extra %q, want %q", got.Outbound.Extra, want)
			}
			if got.Code != 200 || got.Duration != int64(end.Sub(start)) || got.Time != end.Format(time.RFC3339Nano) || got.Msg != "request" {
				t.Errorf("code %d duration %d time %s msg %s", got.Code, got.Duration, got.Time, got.Msg)
			}
		})
	}
}

func TestSIEMLines(t *testing.T) {
	alice := &user.DefaultInfo{Name: "alice@example.com", UID: "u-1", Groups: []string{"dev", "ops"},
		Extra: map[string][]string{"scopes": {"openid", "email"}, "acr": {"mfa"}}}
	tests := []struct {
		name string
		e    Entry
		want string
	}{
		{
			name: "authenticated and forwarded",
			e: Entry{Start: start, End: end, RequestURI: "/api/v1/namespaces/default/pods?limit=500", Peer: "10.0.0.7:53312",
				Inbound: &user.DefaultInfo{Name: "alice@example.com", Groups: []string{"dev", "ops"}}, AuthAttempted: true, Forwarded: true},
			want: "[2026-11-28T18:40:01+0100] AuSuccess src:[10.0.0.7 / ] URI:/api/v1/namespaces/default/pods?limit=500 inbound:[alice@example.com / dev|ops / ]\n",
		},
		{
			name: "extras in key order, each followed by a space (as kube-oidc-proxy)",
			e:    Entry{Start: start, RequestURI: "/api", Peer: "10.0.0.7:1", Inbound: alice, AuthAttempted: true, Forwarded: true},
			want: "[2026-11-28T18:40:01+0100] AuSuccess src:[10.0.0.7 / ] URI:/api inbound:[alice@example.com / dev|ops / acr=mfa scopes=openid|email ]\n",
		},
		{
			name: "outbound identity of end-user impersonation, with its UID",
			e: Entry{Start: start, RequestURI: "/api/v1/nodes", Peer: "10.0.0.7:1", AuthAttempted: true, Forwarded: true,
				Inbound: &user.DefaultInfo{Name: "alice", Groups: []string{"admins"}},
				Outbound: &user.DefaultInfo{Name: "bob", UID: "b-2", Groups: []string{"viewers", "system:authenticated"},
					Extra: map[string][]string{"originaluser.jetstack.io-user": {"alice"}}}},
			want: "[2026-11-28T18:40:01+0100] AuSuccess src:[10.0.0.7 / ] URI:/api/v1/nodes inbound:[alice / admins / ] outbound:[bob / viewers|system:authenticated / b-2 / originaluser.jetstack.io-user=alice ]\n",
		},
		{
			name: "failed authentication",
			e:    Entry{Start: start, RequestURI: "/api/v1/secrets", Peer: "192.0.2.1:443", AuthAttempted: true, AuthFailure: "expired"},
			want: "[2026-11-28T18:40:01+0100] AuFail src:[192.0.2.1 / ] URI:/api/v1/secrets\n",
		},
		{
			name: "authenticated but refused by the proxy (not forwarded)",
			e:    Entry{Start: start, RequestURI: "/api", Peer: "192.0.2.1:443", AuthAttempted: true, Inbound: alice},
			want: "[2026-11-28T18:40:01+0100] AuFail src:[192.0.2.1 / ] URI:/api\n",
		},
		{
			name: "IPv6 peer",
			e: Entry{Start: start, RequestURI: "/api", Peer: "[2001:db8::1]:53312", AuthAttempted: true, Forwarded: true,
				Inbound: &user.DefaultInfo{Name: "alice"}},
			want: "[2026-11-28T18:40:01+0100] AuSuccess src:[2001:db8::1 / ] URI:/api inbound:[alice /  / ]\n",
		},
		{
			name: "X-Forwarded-For without the peer's own address, all header values",
			e: Entry{Start: start, RequestURI: "/api", Peer: "[::1]:1", AuthAttempted: true,
				ForwardedFor: []string{"203.0.113.9, ::1", "198.51.100.2,::1 ,"}},
			want: "[2026-11-28T18:40:01+0100] AuFail src:[::1 / 203.0.113.9, 198.51.100.2] URI:/api\n",
		},
		{
			name: "credential-like query values redacted",
			e: Entry{Start: start, RequestURI: "/api/v1/pods?watch=true&access_token=abc.def&Client%5FSecret=s3&labelSelector=a%3Db", Peer: "10.0.0.7:1",
				AuthAttempted: true, AuthFailure: "x"},
			want: "[2026-11-28T18:40:01+0100] AuFail src:[10.0.0.7 / ] URI:/api/v1/pods?watch=true&access_token=REDACTED&Client%5FSecret=REDACTED&labelSelector=a%3Db\n",
		},
		{
			name: "peer without a port",
			e:    Entry{Start: start, RequestURI: "/", Peer: "@unix", AuthAttempted: true},
			want: "[2026-11-28T18:40:01+0100] AuFail src:[@unix / ] URI:/\n",
		},
		{
			name: "health probe or public path: no authentication, no line",
			e:    Entry{Start: start, RequestURI: "/healthz", Peer: "10.0.0.7:1", Code: 200},
			want: "",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := string(SIEM.Append(nil, &tt.e)); got != tt.want {
				t.Fatalf("\n got: %q\nwant: %q", got, tt.want)
			}
		})
	}
}

func TestSIEMStaysOneLineWithFixedFieldsForHostileValues(t *testing.T) {
	for _, v := range hostile {
		t.Run(strings.ToValidUTF8(v, "?"), func(t *testing.T) {
			e := Entry{
				Start: start, RequestURI: "/api?x=" + v, Peer: "10.0.0.1:1", ForwardedFor: []string{v},
				AuthAttempted: true, Forwarded: true,
				Inbound:  &user.DefaultInfo{Name: v, Groups: []string{v, v}, Extra: map[string][]string{v: {v}}},
				Outbound: &user.DefaultInfo{Name: v, UID: v, Groups: []string{v}, Extra: map[string][]string{"k": {v, v}}},
			}
			line := string(AppendSIEM(nil, &e))
			if strings.IndexByte(line, '\n') != len(line)-1 {
				t.Fatalf("not exactly one line: %q", line)
			}
			if !utf8.ValidString(line) {
				t.Fatalf("invalid UTF-8: %q", line)
			}
			for _, r := range line[:len(line)-1] {
				if unicode.IsControl(r) || r == '\u2028' || r == '\u2029' {
					t.Fatalf("raw control or line separator %U in %q", r, line)
				}
			}
			// Delimiters only where the format puts them: 4 closing
			// brackets (time, src, inbound, outbound) and the group and
			// extra-value separators of the structure above.
			if n := strings.Count(line, "]"); n != 4 {
				t.Errorf("%d ']' in %q, want 4", n, line)
			}
			if n := strings.Count(line, "|"); n != 2 {
				t.Errorf("%d '|' in %q, want 2", n, line)
			}
			if !strings.HasPrefix(line, "[2026-11-28T18:40:01+0100] AuSuccess src:[10.0.0.1 / ") {
				t.Errorf("prefix of %q", line)
			}
		})
	}
}

func TestSIEMFieldsCannotBeForged(t *testing.T) {
	tests := []struct {
		name string
		e    Entry
		want string
	}{
		{
			name: "username with the group and extra separators",
			e: Entry{Start: start, RequestURI: "/api", Peer: "10.0.0.7:1", AuthAttempted: true, Forwarded: true,
				Inbound: &user.DefaultInfo{Name: "eve / system:masters / x=y", Groups: []string{"dev"}}},
			want: `[2026-11-28T18:40:01+0100] AuSuccess src:[10.0.0.7 / ] URI:/api inbound:[eve\x20\x2f\x20system:masters\x20\x2f\x20x\x3dy / dev / ]` + "\n",
		},
		{
			name: "X-Forwarded-For with the src separator",
			e: Entry{Start: start, RequestURI: "/api", Peer: "10.0.0.7:1", AuthAttempted: true,
				ForwardedFor: []string{"6.6.6.6 / 7.7.7.7"}},
			want: `[2026-11-28T18:40:01+0100] AuFail src:[10.0.0.7 / 6.6.6.6\x20\x2f\x207.7.7.7] URI:/api` + "\n",
		},
		{
			name: "extra key and value with '=', spaces and '|'; empty group; URI with a space",
			e: Entry{Start: start, RequestURI: "/api?a=b c", Peer: "10.0.0.7:1", AuthAttempted: true, Forwarded: true,
				Inbound: &user.DefaultInfo{Name: "alice", Groups: []string{""},
					Extra: map[string][]string{"a=b c": {"x=y|z", ""}, "k": {}}}},
			want: `[2026-11-28T18:40:01+0100] AuSuccess src:[10.0.0.7 / ] URI:/api?a=b\x20c inbound:[alice / "" / a\x3db\x20c=x\x3dy\x7cz|"" k= ]` + "\n",
		},
		{
			name: "outbound uid with the separator, group with a quote, bidi override and no-break space",
			e: Entry{Start: start, RequestURI: "/api", Peer: "10.0.0.7:1", AuthAttempted: true, Forwarded: true,
				Inbound:  &user.DefaultInfo{Name: "alice"},
				Outbound: &user.DefaultInfo{Name: "bob\u202egnp.exe", UID: "u / 1", Groups: []string{`"q"`, "a\u00a0b"}}},
			want: `[2026-11-28T18:40:01+0100] AuSuccess src:[10.0.0.7 / ] URI:/api inbound:[alice /  / ] outbound:[bob\u202egnp.exe / \x22q\x22|a\u00a0b / u\x20\x2f\x201 / ]` + "\n",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			line := string(AppendSIEM(nil, &tt.e))
			if line != tt.want {
				t.Errorf("\n got: %s\nwant: %s", line, tt.want)
			}
			got, err := parseSIEM(line)
			if err != nil {
				t.Fatalf("parse %q: %v", line, err)
			}
			if want := wantSIEM(&tt.e); !reflect.DeepEqual(got, want) {
				t.Fatalf("parsed back\n got: %+v\nwant: %+v", got, want)
			}
		})
	}
}

// FuzzSIEMRoundTrip holds the SIEM encoder against parseSIEM: for every
// entry, the line is one line that parses back to exactly the entry's
// fields (byte for byte, invalid UTF-8 included), so no value can add,
// remove or move a field.
func FuzzSIEMRoundTrip(f *testing.F) {
	f.Add("eve / system:masters / x=y", "dev", "ops", uint8(2), "k", "v", "u-1", "6.6.6.6 / 7.7.7.7", "/api?x=1", "10.0.0.7:1", true, true)
	f.Add("", "", "", uint8(1), "", "", "", "", "", "", true, false)
	f.Add("a\nb", "] AuSuccess", "|", uint8(2), "a=b c", "x|y", " / ", "1.2.3.4, 5.6.7.8", "/p q", "[::1]:2", false, true)
	f.Add("\xff\u202e\u00a0", "\"\"", "\\x2f", uint8(2), "\U000e0041", "\u2028", "\t", "::1", "/?token=abc", "@unix", true, true)
	f.Fuzz(func(t *testing.T, name, g1, g2 string, ngroups uint8, key, value, uid, xff, uri, peer string, forwarded, outbound bool) {
		groups := []string{g1, g2}[:ngroups%3]
		e := Entry{
			Start: start, RequestURI: uri, Peer: peer, ForwardedFor: []string{xff}, AuthAttempted: true, Forwarded: forwarded,
			Inbound: &user.DefaultInfo{Name: name, Groups: groups, Extra: map[string][]string{key: {value}}},
		}
		if outbound {
			e.Outbound = &user.DefaultInfo{Name: value, UID: uid, Groups: []string{key, name}, Extra: map[string][]string{name: groups, uid: {}}}
		}
		line := string(AppendSIEM(nil, &e))
		got, err := parseSIEM(line)
		if err != nil {
			t.Fatalf("parse %q: %v", line, err)
		}
		if want := wantSIEM(&e); !reflect.DeepEqual(got, want) {
			t.Fatalf("line %q parsed back\n got: %+v\nwant: %+v", line, got, want)
		}
	})
}

// jsonLine is the JSON line for encoding/json, the reference
// FuzzJSONMatchesEncodingJSON holds AppendJSON against.
type jsonLine struct {
	Time        string        `json:"time"`
	Level       string        `json:"level"`
	Msg         string        `json:"msg"`
	User        string        `json:"user"`
	Groups      []string      `json:"groups"`
	Verb        string        `json:"verb"`
	Method      string        `json:"method"`
	Path        string        `json:"path"`
	Code        int           `json:"code"`
	Duration    time.Duration `json:"duration"`
	Peer        string        `json:"peer"`
	AuthFailure string        `json:"authFailure,omitempty"`
	Outbound    *jsonIdentity `json:"outbound,omitempty"`
}

type jsonIdentity struct {
	User   string              `json:"user"`
	Groups []string            `json:"groups"`
	UID    string              `json:"uid,omitempty"`
	Extra  map[string][]string `json:"extra,omitempty"`
}

func referenceJSON(t *testing.T, e *Entry) []byte {
	t.Helper()
	l := jsonLine{Time: e.End.Format(time.RFC3339Nano), Level: "INFO", Msg: "request", Verb: e.Verb, Method: e.Method,
		Path: e.Path, Code: e.Code, Duration: e.End.Sub(e.Start), Peer: e.Peer, AuthFailure: e.AuthFailure}
	if e.Inbound != nil {
		l.User, l.Groups = e.Inbound.GetName(), e.Inbound.GetGroups()
	}
	if o := e.Outbound; o != nil {
		l.Outbound = &jsonIdentity{User: o.GetName(), Groups: o.GetGroups(), UID: o.GetUID(), Extra: o.GetExtra()}
	}
	b, err := json.Marshal(l)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// decodeAny is the generic value of a JSON text (numbers as json.Number).
func decodeAny(t *testing.T, b []byte) any {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		t.Fatalf("decode %q: %v", b, err)
	}
	if dec.More() {
		t.Fatalf("more than one JSON value in %q", b)
	}
	return v
}

// FuzzJSONMatchesEncodingJSON holds AppendJSON against encoding/json: the
// line is exactly one line of valid UTF-8 JSON, and it decodes to the same
// value as encoding/json's encoding of the same fields. (Same decoded value,
// not same bytes: the line keeps log/slog's escapes, \u0008 where
// encoding/json writes \b, and '<' '>' '&' raw where it writes \u003c.
// TestJSONIsByteForByteTheFormerSlogLine pins the bytes against log/slog.)
func FuzzJSONMatchesEncodingJSON(f *testing.F) {
	f.Add("alice", "dev", "ops", uint8(2), "list", "GET", "/api/v1/pods", 200, "10.0.0.7:1", "", false, "bob", "b-1", "k", "v", int64(start.UnixNano()), int64(2114000))
	f.Add("", "", "", uint8(1), "", "", "", 0, "", "expired", true, "", "", "", "", int64(0), int64(-1))
	f.Add("q\"\\\n\b\f<&>", "\xff\xfe", "\u2028\u2029", uint8(2), "\x00", "\x7f", "/\ufffd", 599, "[::1]:1", "\u0085", true, "\t", "\xe2\x82", "\xff", "\xfe", int64(-1<<63), int64(1<<62))
	f.Fuzz(func(t *testing.T, name, g1, g2 string, ngroups uint8, verb, method, path string, code int, peer, authFailure string,
		outbound bool, oname, uid, key, value string, startNanos, durNanos int64) {
		s := time.Unix(0, startNanos).In(zone)
		e := Entry{Start: s, End: s.Add(time.Duration(durNanos)), Verb: verb, Method: method, Path: path, Code: code, Peer: peer, AuthFailure: authFailure}
		if groups := []string{g1, g2}[:ngroups%3]; name != "" || ngroups%2 == 1 {
			e.Inbound = &user.DefaultInfo{Name: name, Groups: groups}
		}
		if outbound {
			e.Outbound = &user.DefaultInfo{Name: oname, UID: uid, Groups: []string{g2}, Extra: map[string][]string{key: {value}, value: nil}}
		}
		line := AppendJSON([]byte("previous\n"), &e)
		line, ok := bytes.CutPrefix(line, []byte("previous\n"))
		if !ok {
			t.Fatalf("the buffer's previous content changed")
		}
		if bytes.IndexByte(line, '\n') != len(line)-1 || !utf8.Valid(line) || !json.Valid(line) {
			t.Fatalf("not one line of valid UTF-8 JSON: %q", line)
		}
		ref := referenceJSON(t, &e)
		if got, want := decodeAny(t, line), decodeAny(t, ref); !reflect.DeepEqual(got, want) {
			t.Fatalf("decoded values differ\n line: %s\n  ref: %s", line, ref)
		}
	})
}

func TestParseFormat(t *testing.T) {
	tests := []struct {
		in      string
		want    Format
		wantErr bool
	}{
		{"json", JSON, false},
		{"siem", SIEM, false},
		{" SIEM ", SIEM, false},
		{"", "", true},
		{"text", "", true},
	}
	for _, tt := range tests {
		got, err := ParseFormat(tt.in)
		if got != tt.want || (err != nil) != tt.wantErr {
			t.Errorf("ParseFormat(%q) = %q, %v", tt.in, got, err)
		}
	}
}

func BenchmarkAppend(b *testing.B) {
	e := Entry{
		Start: start, End: end, Verb: "list", Method: "GET", Path: "/api/v1/namespaces/default/pods",
		RequestURI: "/api/v1/namespaces/default/pods", Code: 200, Peer: "127.0.0.1:53312",
		Inbound: &user.DefaultInfo{Name: "https://issuer.example#bench-user", Groups: []string{"bench"}}, AuthAttempted: true, Forwarded: true,
	}
	for _, f := range Formats {
		b.Run(string(f), func(b *testing.B) {
			b.ReportAllocs()
			buf := make([]byte, 0, 512)
			for b.Loop() {
				buf = f.Append(buf[:0], &e)
			}
		})
	}
	b.Run("slog-json", func(b *testing.B) {
		b.ReportAllocs()
		log := slog.New(slog.NewJSONHandler(discard{}, nil))
		for b.Loop() {
			log.LogAttrs(context.Background(), slog.LevelInfo, "request",
				slog.String("user", e.Inbound.GetName()), slog.Any("groups", e.Inbound.GetGroups()),
				slog.String("verb", e.Verb), slog.String("method", e.Method), slog.String("path", e.Path),
				slog.Int("code", e.Code), slog.Duration("duration", e.End.Sub(e.Start)), slog.String("peer", e.Peer))
		}
	})
}

type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }
