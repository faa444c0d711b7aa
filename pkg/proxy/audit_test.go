package proxy

import (
	"bufio"
	"bytes"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/kube-oidc/kube-oidc/pkg/proxy/authn"
	auditv1 "k8s.io/apiserver/pkg/apis/audit/v1"
)

const auditPolicy = `apiVersion: audit.k8s.io/v1
kind: Policy
omitStages: [RequestReceived]
rules:
- level: Metadata
`

func readAuditEvents(t *testing.T, path string) []auditv1.Event {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	var out []auditv1.Event
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var ev auditv1.Event
		if err := json.Unmarshal(sc.Bytes(), &ev); err != nil {
			t.Fatalf("audit line is not an event: %v: %s", err, sc.Text())
		}
		out = append(out, ev)
	}
	return out
}

func TestAuditLogRecordsUserRequestInfoAndFailures(t *testing.T) {
	dir := t.TempDir()
	policy := filepath.Join(dir, "policy.yaml")
	if err := os.WriteFile(policy, []byte(auditPolicy), 0o600); err != nil {
		t.Fatal(err)
	}
	logPath := filepath.Join(dir, "audit.log")
	o := NewModeOptions()
	if err := pflagSet(o).Parse([]string{"--audit-policy-file=" + policy, "--audit-log-path=" + logPath}); err != nil {
		t.Fatal(err)
	}
	api := &fakeKubeAPI{allow: allowExcept("root")}
	up := newUpstream(t, api.handler)
	auth := newFakeAuth()
	auth.errs["forbidden-token-123456"] = &authn.ForbiddenIdentityError{Reason: "system: group"}
	p := newModesProxy(t, up, auth, o)

	type want struct {
		user, impersonated, verb, group, resource, namespace, name string
		code                                                       int32
	}
	tests := []struct {
		name   string
		path   string
		token  string
		header http.Header
		want   want
	}{
		{"legacy /api list", "/api/v1/namespaces/default/pods", aliceToken, nil,
			want{user: alice.Name, verb: "list", resource: "pods", namespace: "default", code: 200}},
		{"/apis get", "/apis/apps/v1/namespaces/team-a/deployments/web", aliceToken, nil,
			want{user: alice.Name, verb: "get", group: "apps", resource: "deployments", namespace: "team-a", name: "web", code: 200}},
		{"watch", "/api/v1/namespaces/default/configmaps?watch=true", aliceToken, nil,
			want{user: alice.Name, verb: "watch", resource: "configmaps", namespace: "default", code: 200}},
		{"cluster-scoped list", "/api/v1/nodes", aliceToken, nil,
			want{user: alice.Name, verb: "list", resource: "nodes", code: 200}},
		{"invalid token: 401", "/api/v1/namespaces/default/secrets", "garbage-token-123456", nil,
			want{verb: "list", resource: "secrets", namespace: "default", code: 401}},
		{"refused identity: 403", "/api/v1/namespaces/default/secrets", "forbidden-token-123456", nil,
			want{verb: "list", resource: "secrets", namespace: "default", code: 403}},
		{"--as allowed: both identities", "/api/v1/namespaces/default/pods/p1", aliceToken, http.Header{"Impersonate-User": {"bob"}},
			want{user: alice.Name, impersonated: "bob", verb: "get", resource: "pods", namespace: "default", name: "p1", code: 200}},
		{"--as denied: 403", "/api/v1/namespaces/default/pods/p1", aliceToken, http.Header{"Impersonate-User": {"root"}},
			want{user: alice.Name, verb: "get", resource: "pods", namespace: "default", name: "p1", code: 403}},
	}
	for _, tt := range tests {
		hdr := bearer(tt.token)
		for k, v := range tt.header {
			hdr[k] = v
		}
		res, body := p.do(t, http.MethodGet, tt.path, hdr)
		if int32(res.StatusCode) != tt.want.code {
			t.Fatalf("%s: code %d, want %d: %s", tt.name, res.StatusCode, tt.want.code, body)
		}
		if res.Header.Get("Audit-Id") == "" {
			t.Errorf("%s: no Audit-Id header", tt.name)
		}
	}
	// A long-running request (the watch) also gets a ResponseStarted event;
	// a failed authentication only gets one at ResponseStarted (as in
	// kube-apiserver), nothing at ResponseComplete.
	var events []auditv1.Event
	watchStarted := 0
	waitFor(t, "all audit events", func() bool {
		events, watchStarted = nil, 0
		for _, ev := range readAuditEvents(t, logPath) {
			switch {
			case ev.Stage == auditv1.StageResponseComplete:
				events = append(events, ev)
			case ev.Stage == auditv1.StageResponseStarted && ev.Verb == "watch":
				watchStarted++
			case ev.Stage == auditv1.StageResponseStarted && ev.User.Username == "":
				events = append(events, ev)
			}
		}
		return len(events) >= len(tests)
	})
	if watchStarted != 1 {
		t.Errorf("%d ResponseStarted events for the watch, want 1", watchStarted)
	}
	if len(events) != len(tests) {
		t.Fatalf("%d events, want %d", len(events), len(tests))
	}
	for i, tt := range tests {
		ev := events[i]
		got := want{user: ev.User.Username, verb: ev.Verb}
		if ev.ImpersonatedUser != nil {
			got.impersonated = ev.ImpersonatedUser.Username
		}
		if ev.ObjectRef != nil {
			got.group, got.resource, got.namespace, got.name = ev.ObjectRef.APIGroup, ev.ObjectRef.Resource, ev.ObjectRef.Namespace, ev.ObjectRef.Name
		}
		if ev.ResponseStatus != nil {
			got.code = ev.ResponseStatus.Code
		}
		if got != tt.want {
			t.Errorf("%s: event %+v, want %+v", tt.name, got, tt.want)
		}
		if ev.Level != auditv1.LevelMetadata {
			t.Errorf("%s: level %s", tt.name, ev.Level)
		}
		if !strings.HasPrefix(ev.RequestURI, strings.Split(tt.path, "?")[0]) {
			t.Errorf("%s: requestURI %q", tt.name, ev.RequestURI)
		}
	}
	b, _ := os.ReadFile(logPath)
	for _, secret := range []string{aliceToken, "garbage-token-123456", proxyCredential} {
		if strings.Contains(string(b), secret) {
			t.Errorf("audit log contains a token")
		}
	}
}

func TestNoAuditWithoutPolicy(t *testing.T) {
	o := NewModeOptions()
	o.Audit.LogOptions.Path = filepath.Join(t.TempDir(), "audit.log")
	a, err := NewAudit(o.Audit)
	if err != nil || a != nil {
		t.Fatalf("audit %v, err %v: want none without a policy, as kube-apiserver", a, err)
	}
}

func TestAuditLogPathMustBeARegularFile(t *testing.T) {
	policy := filepath.Join(t.TempDir(), "policy.yaml")
	if err := os.WriteFile(policy, []byte(auditPolicy), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		path    string
		wantErr bool
	}{
		{os.DevNull, true},
		{t.TempDir(), true}, // a directory
		{filepath.Join(t.TempDir(), "new.log"), false},
		{"-", false},
	} {
		o := NewModeOptions()
		o.Audit.PolicyFile = policy
		o.Audit.LogOptions.Path = tc.path
		_, err := NewAudit(o.Audit)
		if gotErr := err != nil; gotErr != tc.wantErr {
			t.Errorf("--audit-log-path=%s: err %v, want error %v", tc.path, err, tc.wantErr)
		}
		if tc.wantErr && err != nil && !strings.Contains(err.Error(), "not a regular file") {
			t.Errorf("--audit-log-path=%s: unclear error %v", tc.path, err)
		}
	}
}

func TestAuditSourceIPsAreTheResolvedClient(t *testing.T) {
	tests := []struct {
		name    string
		trusted string
		token   string
		header  http.Header
		// wantSource is the event's sourceIPs; wantExtra the forwarded
		// remote-client-ip; wantUpstream the X-Forwarded-For the API server
		// gets (nil for a refused request).
		wantSource   []string
		wantExtra    string
		wantUpstream []string
	}{
		{name: "untrusted peer: X-Forwarded-For and X-Real-Ip dropped",
			token:      aliceToken,
			header:     http.Header{"X-Forwarded-For": {"6.6.6.6, 7.7.7.7"}, "X-Real-Ip": {"8.8.8.8"}},
			wantSource: []string{"127.0.0.1"}, wantExtra: "127.0.0.1", wantUpstream: []string{"127.0.0.1"}},
		{name: "untrusted peer, failed authentication: dropped too",
			token:      "garbage-token-123456",
			header:     http.Header{"X-Forwarded-For": {"6.6.6.6"}},
			wantSource: []string{"127.0.0.1"}},
		{name: "trusted peer: the right-most untrusted entry, the client's own claim left of it dropped",
			trusted: "127.0.0.0/8", token: aliceToken,
			header:     http.Header{"X-Forwarded-For": {"6.6.6.6, 198.51.100.7", "127.0.0.5"}, "X-Real-Ip": {"8.8.8.8"}},
			wantSource: []string{"198.51.100.7", "127.0.0.5", "127.0.0.1"}, wantExtra: "198.51.100.7",
			wantUpstream: []string{"198.51.100.7, 127.0.0.5, 127.0.0.1"}},
		{name: "trusted peer, failed authentication",
			trusted: "127.0.0.0/8", token: "garbage-token-123456",
			header:     http.Header{"X-Forwarded-For": {"6.6.6.6, 198.51.100.7"}},
			wantSource: []string{"198.51.100.7", "127.0.0.1"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			policy := filepath.Join(dir, "policy.yaml")
			if err := os.WriteFile(policy, []byte(auditPolicy), 0o600); err != nil {
				t.Fatal(err)
			}
			logPath := filepath.Join(dir, "audit.log")
			args := []string{"--audit-policy-file=" + policy, "--audit-log-path=" + logPath, "--extra-user-header-client-ip"}
			if tt.trusted != "" {
				args = append(args, "--trusted-proxy-cidrs="+tt.trusted)
			}
			o := NewModeOptions()
			if err := pflagSet(o).Parse(args); err != nil {
				t.Fatal(err)
			}
			api := &fakeKubeAPI{allow: allowExcept()}
			up := newUpstream(t, api.handler)
			p := newModesProxy(t, up, newFakeAuth(), o)
			hdr := bearer(tt.token)
			for k, v := range tt.header {
				hdr[k] = v
			}
			res, body := p.do(t, http.MethodGet, "/api/v1/namespaces/default/pods", hdr)
			if want := map[bool]int{true: 200, false: 401}[tt.wantExtra != ""]; res.StatusCode != want {
				t.Fatalf("code %d, want %d: %s", res.StatusCode, want, body)
			}
			var ev *auditv1.Event
			waitFor(t, "the audit event", func() bool {
				for _, e := range readAuditEvents(t, logPath) {
					if e.Stage == auditv1.StageResponseComplete || (e.Stage == auditv1.StageResponseStarted && e.User.Username == "") {
						ev = &e
						return true
					}
				}
				return false
			})
			if !slices.Equal(ev.SourceIPs, tt.wantSource) {
				t.Errorf("audit sourceIPs %q, want %q", ev.SourceIPs, tt.wantSource)
			}
			f := forwarded(up)
			if tt.wantExtra == "" {
				if len(f) != 0 {
					t.Fatalf("a refused request was forwarded")
				}
				return
			}
			if len(f) != 1 {
				t.Fatalf("forwarded %d", len(f))
			}
			if got := extrasOf(t, f[0].Header)[ClientIPExtraKey]; !slices.Equal(got, []string{tt.wantExtra}) {
				t.Errorf("extra %s = %q, want %q", ClientIPExtraKey, got, tt.wantExtra)
			}
			if got := f[0].Header.Values("X-Forwarded-For"); !slices.Equal(got, tt.wantUpstream) {
				t.Errorf("upstream X-Forwarded-For %q, want %q", got, tt.wantUpstream)
			}
			if got := f[0].Header.Values("X-Real-Ip"); len(got) > 0 {
				t.Errorf("upstream X-Real-Ip %q", got)
			}
		})
	}
}
