package proxy

import (
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"k8s.io/apiserver/pkg/authentication/user"

	"github.com/kube-oidc/kube-oidc/pkg/proxy/accesslog"

	"github.com/kube-oidc/kube-oidc/pkg/proxy/upstream"
)

func TestAccessLogFormatsThroughTheChain(t *testing.T) {
	const ts = `\[\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d[+-]\d{4}\]`
	tests := []struct {
		name     string
		path     string
		header   http.Header
		wantCode int
		json     string // regexp of the JSON line
		siem     string // regexp of the SIEM line; "" means no line
	}{
		{
			name: "authenticated and forwarded", path: "/api/v1/namespaces/default/pods?limit=1",
			header: bearer(aliceToken), wantCode: 200,
			json: `^\{"time":"[^"]+","level":"INFO","msg":"request","user":"alice@example.com","groups":\["dev","ops"\],"verb":"list","method":"GET","path":"/api/v1/namespaces/default/pods","code":200,"duration":\d+,"peer":"127\.0\.0\.1:\d+"\}$`,
			siem: `^` + ts + ` AuSuccess src:\[127\.0\.0\.1 / \] URI:/api/v1/namespaces/default/pods\?limit=1 inbound:\[alice@example\.com / dev\|ops / \]$`,
		},
		{
			name: "rejected token", path: "/api/v1/secrets", header: bearer("not-a-valid-token-at-all"), wantCode: 401,
			json: `^\{"time":"[^"]+","level":"INFO","msg":"request","user":"","groups":null,"verb":"list","method":"GET","path":"/api/v1/secrets","code":401,"duration":\d+,"peer":"127\.0\.0\.1:\d+","authFailure":"invalid token"\}$`,
			siem: `^` + ts + ` AuFail src:\[127\.0\.0\.1 / \] URI:/api/v1/secrets$`,
		},
		{
			name: "authenticated, client impersonation refused", path: "/api",
			header:   http.Header{"Authorization": {"Bearer " + aliceToken}, "Impersonate-User": {"admin"}, "X-Forwarded-For": {"203.0.113.7"}},
			wantCode: 403,
			json:     `^\{"time":"[^"]+","level":"INFO","msg":"request","user":"alice@example.com","groups":\["dev","ops"\],"verb":"get","method":"GET","path":"/api","code":403,"duration":\d+,"peer":"127\.0\.0\.1:\d+"\}$`,
			// X-Forwarded-For from an untrusted peer is dropped (WithClientAddress).
			siem: `^` + ts + ` AuFail src:\[127\.0\.0\.1 / \] URI:/api$`,
		},
		{
			name: "health probe (no authentication)", path: "/healthz", wantCode: 200,
			json: `^\{"time":"[^"]+","level":"INFO","msg":"request","user":"","groups":null,"verb":"get","method":"GET","path":"/healthz","code":200,"duration":\d+,"peer":"127\.0\.0\.1:\d+"\}$`,
		},
	}
	for _, format := range accesslog.Formats {
		for _, tt := range tests {
			t.Run(string(format)+"/"+tt.name, func(t *testing.T) {
				up := newUpstream(t, nil)
				upstreamT, err := upstream.New(up.RESTConfig(proxyCredential), testTimeouts)
				if err != nil {
					t.Fatal(err)
				}
				m, err := NewMetrics(prometheus.NewRegistry())
				if err != nil {
					t.Fatal(err)
				}
				var lines syncBuffer
				h := NewHandler(Config{Authenticator: newFakeAuth(), Upstream: upstreamT, Metrics: m,
					Log: slog.New(slog.NewTextHandler(io.Discard, nil)), AccessLog: NewAccessLog(&lines, format)})
				p := &testProxy{Server: httptest.NewServer(h)}
				res, _ := p.do(t, http.MethodGet, tt.path, tt.header)
				p.Close()
				if res.StatusCode != tt.wantCode {
					t.Fatalf("code %d, want %d", res.StatusCode, tt.wantCode)
				}
				want := tt.json
				if format == accesslog.SIEM {
					want = tt.siem
				}
				got := lines.String()
				if want == "" {
					if got != "" {
						t.Fatalf("want no line, got %q", got)
					}
					return
				}
				if strings.Count(got, "\n") != 1 || !strings.HasSuffix(got, "\n") {
					t.Fatalf("want exactly one line, got %q", got)
				}
				if !regexp.MustCompile(want).MatchString(strings.TrimSuffix(got, "\n")) {
					t.Fatalf("line\n%s\ndoes not match\n%s", got, want)
				}
			})
		}
	}
}

// With end-user impersonation (kubectl --as) the record carries the
// impersonated identity next to the authenticated one; both lines show both.
func TestAccessLogShowsOutboundIdentity(t *testing.T) {
	inner := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rec := recordFrom(r.Context())
		rec.identity = &user.DefaultInfo{Name: "alice", Groups: []string{"admins"}}
		rec.plan = &forwardPlan{impersonated: true, user: &user.DefaultInfo{Name: "bob", UID: "b-1", Groups: []string{"viewers"},
			Extra: map[string][]string{"originaluser.jetstack.io-user": {"alice"}}}}
		rec.forwarded = true
		w.WriteHeader(http.StatusOK)
	})
	tests := []struct {
		format accesslog.Format
		want   string
	}{
		{accesslog.JSON, `"user":"alice","groups":["admins"],` + `"verb":"get","method":"GET","path":"/api/v1/nodes/n1","code":200,` +
			`"duration":0,"peer":"[2001:db8::7]:4242","outbound":{"user":"bob","groups":["viewers"],"uid":"b-1","extra":{"originaluser.jetstack.io-user":["alice"]}}}`},
		{accesslog.SIEM, ` AuSuccess src:[2001:db8::7 / ] URI:/api/v1/nodes/n1 inbound:[alice / admins / ] outbound:[bob / viewers / b-1 / originaluser.jetstack.io-user=alice ]`},
	}
	for _, tt := range tests {
		t.Run(string(tt.format), func(t *testing.T) {
			var lines syncBuffer
			h := WithAccessLog(inner, NewAccessLog(&lines, tt.format))
			req := httptest.NewRequest(http.MethodGet, "/api/v1/nodes/n1", nil)
			req.RemoteAddr = "[2001:db8::7]:4242"
			h.ServeHTTP(httptest.NewRecorder(), req)
			got := regexp.MustCompile(`"duration":\d+`).ReplaceAllString(lines.String(), `"duration":0`)
			if !strings.Contains(got, tt.want) {
				t.Fatalf("line\n%s\nwant it to contain\n%s", got, tt.want)
			}
		})
	}
}

// kubectl --as through the whole chain: the line names the real user and,
// as outbound, the identity the API server saw.
func TestAccessLogOfEndUserImpersonation(t *testing.T) {
	api := &fakeKubeAPI{allow: allowExcept()}
	up := newUpstream(t, api.handler)
	p := newModesProxy(t, up, newFakeAuth(), NewModeOptions())
	hdr := bearer(aliceToken)
	hdr.Set("Impersonate-User", "bob")
	hdr.Set("Impersonate-Group", "viewers")
	res, body := p.do(t, http.MethodGet, "/api/v1/namespaces/default/pods", hdr)
	if res.StatusCode != http.StatusOK {
		t.Fatalf("code %d: %s", res.StatusCode, body)
	}
	p.Close()
	var line string
	for _, l := range strings.Split(p.logs.String(), "\n") {
		if strings.Contains(l, `"msg":"request"`) {
			line = l
		}
	}
	for _, want := range []string{`"user":"alice@example.com","groups":["dev","ops"]`, `"code":200`, `"outbound":{"user":"bob","groups":["viewers","system:authenticated"],` +
		`"extra":{"originaluser.jetstack.io-groups":["dev","ops"],"originaluser.jetstack.io-user":["alice@example.com"]}}`} {
		if !strings.Contains(line, want) {
			t.Errorf("access log line lacks %s: %s", want, line)
		}
	}
}
