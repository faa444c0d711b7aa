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
