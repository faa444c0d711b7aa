package server

import (
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/promql/parser"
	"sigs.k8s.io/yaml"

	"github.com/kube-oidc/kube-oidc/internal/apiservertest"
	"github.com/kube-oidc/kube-oidc/internal/oidctest"
	"github.com/kube-oidc/kube-oidc/pkg/proxy/authn"
)

const monitoringDir = "../../../deploy/monitoring"

// targetLabels are added by Prometheus when it scrapes, not by the proxy.
var targetLabels = []string{"job", "instance"}

// TestMonitoringQueriesExistOnARunningProxy starts the proxy with the real
// authenticator (an --authentication-config file that is reloaded), token
// passthrough and client impersonation, drives requests that reach every
// library the proxy embeds (the JWT authenticator, its JWKS fetch, the
// config reload, client-go's SubjectAccessReview and TokenReview clients),
// scrapes /metrics and checks that every metric every dashboard panel and
// alert rule in deploy/monitoring queries is there, with every label a
// matcher names.
func TestMonitoringQueriesExistOnARunningProxy(t *testing.T) {
	p := oidctest.New(t)
	p.User.Groups = []string{"dev"}
	api := newReviewingAPI(t, map[string]string{"sa-token": "system:serviceaccount:ci:deployer"})
	configPath := filepath.Join(t.TempDir(), "authn.yaml")
	writeAuthnConfig(t, configPath, p, "oidc:")
	ao := authn.NewOptions()
	ao.AuthenticationConfigFile = configPath
	ao.ConfigReloadInterval = 50 * time.Millisecond
	rs := startServerWith(t, api, ao, func(o *Options) { o.Modes.TokenPassthrough = true })

	good := p.IDToken(p.User)
	waitFor(t, "the authenticator", func() bool { code, _, _ := rs.get(t, rs.secure+"/api/v1/pods", good); return code == 200 })
	if code, _, _ := rs.get(t, rs.secure+"/api/v1/pods", good); code != 200 { // a cache hit
		t.Fatalf("cached token: %d", code)
	}
	if code, _, _ := rs.get(t, rs.secure+"/api/v1/pods", "not-a-jwt"); code != 401 {
		t.Fatalf("unknown token: %d, want 401 (TokenReview refuses it)", code)
	}
	if code, _, _ := rs.get(t, rs.secure+"/api/v1/pods", "sa-token"); code != 200 {
		t.Fatalf("passthrough token: %d, want 200", code)
	}
	req, _ := http.NewRequest(http.MethodGet, rs.secure+"/api/v1/pods", nil)
	req.Header.Set("Authorization", "Bearer "+good)
	req.Header.Set("Impersonate-User", "bob")
	res, err := rs.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != 200 {
		t.Fatalf("impersonation: %d, want 200", res.StatusCode)
	}
	writeAuthnConfig(t, configPath, p, "oidc2:") // reloaded with success
	waitFor(t, "the config reload", func() bool {
		return strings.Contains(scrape(t, rs), `apiserver_authentication_config_controller_automatic_reloads_total{apiserver_id_hash="",status="success"}`)
	})

	text := scrape(t, rs)
	for _, secret := range []string{good, "sa-token", "not-a-jwt"} {
		if strings.Contains(text, secret) {
			t.Errorf("/metrics contains the token %q", secret)
		}
	}
	families := parseMetrics(t, text)
	queries := monitoringQueries(t)
	if len(queries) < 30 {
		t.Fatalf("found %d queries in %s, expected the dashboard's and the alerts'", len(queries), monitoringDir)
	}
	for _, q := range queries {
		expr, err := parser.ParseExpr(q.expr)
		if err != nil {
			t.Errorf("%s: %v\n%s", q.where, err, q.expr)
			continue
		}
		parser.Inspect(expr, func(n parser.Node, _ []parser.Node) error {
			vs, ok := n.(*parser.VectorSelector)
			if !ok {
				return nil
			}
			labels, ok := families[vs.Name]
			if !ok {
				t.Errorf("%s queries %s, which the running proxy does not expose", q.where, vs.Name)
				return nil
			}
			for _, m := range vs.LabelMatchers {
				if m.Name != model.MetricNameLabel && !labels[m.Name] && !slices.Contains(targetLabels, m.Name) {
					t.Errorf("%s matches label %q of %s, which has none", q.where, m.Name, vs.Name)
				}
			}
			return nil
		})
	}
}

// newReviewingAPI is a fake API server that answers SubjectAccessReviews
// (allowed), TokenReviews (the tokens given, by user name) and lists.
func newReviewingAPI(t *testing.T, tokens map[string]string) *apiservertest.Server {
	return apiservertest.New(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		switch r.URL.Path {
		case "/apis/authorization.k8s.io/v1/subjectaccessreviews":
			_, _ = io.WriteString(w, `{"apiVersion":"authorization.k8s.io/v1","kind":"SubjectAccessReview","status":{"allowed":true}}`)
		case "/apis/authentication.k8s.io/v1/tokenreviews":
			var tr struct {
				Spec struct{ Token string } `json:"spec"`
			}
			_ = json.NewDecoder(r.Body).Decode(&tr)
			status := map[string]any{"authenticated": false, "error": "invalid bearer token"}
			if name, ok := tokens[tr.Spec.Token]; ok {
				status = map[string]any{"authenticated": true, "user": map[string]any{"username": name}}
			}
			_ = json.NewEncoder(w).Encode(map[string]any{"apiVersion": "authentication.k8s.io/v1", "kind": "TokenReview", "status": status})
		default:
			_, _ = io.WriteString(w, `{"kind":"PodList","apiVersion":"v1","items":[]}`)
		}
	})
}

// writeAuthnConfig writes an AuthenticationConfiguration for p with the
// given username prefix.
func writeAuthnConfig(t *testing.T, path string, p *oidctest.Provider, prefix string) {
	t.Helper()
	cfg := map[string]any{
		"apiVersion": "apiserver.config.k8s.io/v1", "kind": "AuthenticationConfiguration",
		"jwt": []any{map[string]any{
			"issuer": map[string]any{"url": p.Issuer, "audiences": []string{p.ClientID}, "certificateAuthority": string(p.CAPEM())},
			"claimMappings": map[string]any{
				"username": map[string]any{"claim": "sub", "prefix": prefix},
				"groups":   map[string]any{"claim": "groups", "prefix": ""},
			},
		}},
	}
	data, err := yaml.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, data, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

func scrape(t *testing.T, rs *runningServer) string {
	t.Helper()
	res, err := http.Get(rs.metrics + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	if res.StatusCode != 200 {
		t.Fatalf("/metrics = %d: %s", res.StatusCode, b)
	}
	return string(b)
}

// parseMetrics returns the series names of a scrape (a histogram gives
// NAME_bucket, NAME_sum and NAME_count) with their label names.
func parseMetrics(t *testing.T, text string) map[string]map[string]bool {
	t.Helper()
	p := expfmt.NewTextParser(model.UTF8Validation)
	mfs, err := p.TextToMetricFamilies(strings.NewReader(text))
	if err != nil {
		t.Fatalf("parse /metrics: %v", err)
	}
	out := map[string]map[string]bool{}
	add := func(name string, labels ...string) {
		if out[name] == nil {
			out[name] = map[string]bool{}
		}
		for _, l := range labels {
			out[name][l] = true
		}
	}
	for name, mf := range mfs {
		for _, m := range mf.GetMetric() {
			var labels []string
			for _, l := range m.GetLabel() {
				labels = append(labels, l.GetName())
			}
			switch {
			case m.GetHistogram() != nil:
				add(name+"_bucket", append(labels, "le")...)
				add(name+"_sum", labels...)
				add(name+"_count", labels...)
			case m.GetSummary() != nil:
				add(name, append(labels, "quantile")...)
				add(name+"_sum", labels...)
				add(name+"_count", labels...)
			default:
				add(name, labels...)
			}
		}
	}
	return out
}

type query struct{ where, expr string }

// grafanaVars are the dashboard's variables, replaced by values PromQL
// accepts (the range ones by a duration).
var grafanaVars = strings.NewReplacer("$__rate_interval", "5m", "$__interval", "1m", "$__range", "1h")

var labelValues = regexp.MustCompile(`^label_values\(\s*([a-zA-Z_:][a-zA-Z0-9_:]*)`)

// monitoringQueries reads every PromQL expression of the dashboards
// (panel targets, query variables) and alert rules in deploy/monitoring.
func monitoringQueries(t *testing.T) []query {
	t.Helper()
	entries, err := os.ReadDir(monitoringDir)
	if err != nil {
		t.Fatal(err)
	}
	var qs []query
	for _, e := range entries {
		path := filepath.Join(monitoringDir, e.Name())
		data, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		switch filepath.Ext(e.Name()) {
		case ".json":
			var d struct {
				Panels     []grafanaPanel `json:"panels"`
				Templating struct {
					List []struct {
						Name  string          `json:"name"`
						Type  string          `json:"type"`
						Query json.RawMessage `json:"query"`
					} `json:"list"`
				} `json:"templating"`
			}
			if err := json.Unmarshal(data, &d); err != nil {
				t.Fatalf("%s: %v", path, err)
			}
			var walk func(ps []grafanaPanel)
			walk = func(ps []grafanaPanel) {
				for _, p := range ps {
					for _, tg := range p.Targets {
						qs = append(qs, query{e.Name() + ": panel " + p.Title, grafanaVars.Replace(tg.Expr)})
					}
					walk(p.Panels)
				}
			}
			walk(d.Panels)
			for _, v := range d.Templating.List {
				if v.Type != "query" {
					continue
				}
				var q struct{ Query string }
				if json.Unmarshal(v.Query, &q) != nil {
					_ = json.Unmarshal(v.Query, &q.Query)
				}
				m := labelValues.FindStringSubmatch(q.Query)
				if m == nil {
					t.Fatalf("%s: variable %s: query %q is not label_values(METRIC, LABEL)", path, v.Name, q.Query)
				}
				qs = append(qs, query{e.Name() + ": variable " + v.Name, m[1]})
			}
		case ".yaml", ".yml":
			var f struct {
				Groups []struct {
					Rules []struct {
						Alert, Record, Expr string
					} `json:"rules"`
				} `json:"groups"`
			}
			if err := yaml.Unmarshal(data, &f); err != nil {
				t.Fatalf("%s: %v", path, err)
			}
			for _, g := range f.Groups {
				for _, r := range g.Rules {
					qs = append(qs, query{e.Name() + ": rule " + r.Alert + r.Record, r.Expr})
				}
			}
		}
	}
	return qs
}

type grafanaPanel struct {
	Title   string `json:"title"`
	Targets []struct {
		Expr string `json:"expr"`
	} `json:"targets"`
	Panels []grafanaPanel `json:"panels"`
}
