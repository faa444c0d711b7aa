package web

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"sort"
	"strings"
	"sync"

	authenticationv1 "k8s.io/api/authentication/v1"
	authorizationv1 "k8s.io/api/authorization/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
)

// Limits of what a session summarises: the namespaces whose rules are
// reviewed, the reviews run at once, an API response read in process.
const (
	maxNamespaces   = 30
	reviewsAtOnce   = 4
	maxResponseSize = 8 << 20
)

// Identity is who the API server sees through the proxy (SelfSubjectReview).
type Identity struct {
	Username string              `json:"u"`
	UID      string              `json:"i,omitempty"`
	Groups   []string            `json:"g,omitempty"`
	Extra    map[string][]string `json:"x,omitempty"`
}

// Rule is one line of the permissions summary: verbs on what (resources,
// or URL paths for non-resource rules).
type Rule struct {
	Verbs string   `json:"v"`
	What  []string `json:"w"`
}

// NamespaceRules are the rules a namespace grants beyond Everywhere.
type NamespaceRules struct {
	Name  string `json:"n"`
	Rules []Rule `json:"r,omitempty"`
}

// Permissions summarise the SelfSubjectRulesReviews of the namespaces the
// person may list: the rules every reviewed namespace grants (cluster-wide
// bindings among them), then what each namespace adds.
type Permissions struct {
	Everywhere  []Rule           `json:"e,omitempty"`
	Namespaces  []NamespaceRules `json:"n,omitempty"`
	NonResource []Rule           `json:"nr,omitempty"`
	// CannotList: the person may not list namespaces; only "default" was reviewed.
	CannotList bool `json:"cl,omitempty"`
	// More namespaces exist than were reviewed.
	More int `json:"m,omitempty"`
	// Incomplete: an authorizer could not list every rule.
	Incomplete bool `json:"ic,omitempty"`
}

// APIError is a refusal of the API (through the proxy) with its Status
// message, shown to the person.
type APIError struct {
	Code    int
	Message string
}

func (e *APIError) Error() string { return fmt.Sprintf("the API answered %d: %s", e.Code, e.Message) }

func apiError(what string, err error) error {
	var st apierrors.APIStatus
	if errors.As(err, &st) {
		s := st.Status()
		return &APIError{Code: int(s.Code), Message: s.Message}
	}
	return fmt.Errorf("%s: %w", what, err)
}

// inProcess is a RoundTripper that serves each request with the proxy's
// own handler chain in this process, as a request from the page's client
// (its address and X-Forwarded-For, resolved by the chain as for any
// request), so the API sees exactly what a kubectl with the same token
// gets through this proxy.
type inProcess struct {
	api          http.Handler
	remoteAddr   string
	forwardedFor []string
	tls          *tls.ConnectionState
}

func (t inProcess) RoundTrip(req *http.Request) (*http.Response, error) {
	r := req.Clone(req.Context())
	if r.Body == nil {
		r.Body = http.NoBody
	}
	r.RemoteAddr = t.remoteAddr
	r.RequestURI = req.URL.RequestURI()
	r.Host = req.URL.Host
	r.Proto, r.ProtoMajor, r.ProtoMinor = "HTTP/1.1", 1, 1
	r.TLS = t.tls
	r.Header.Del("X-Forwarded-For")
	for _, v := range t.forwardedFor {
		r.Header.Add("X-Forwarded-For", v)
	}
	w := &recorder{header: http.Header{}}
	t.api.ServeHTTP(w, r)
	if w.over {
		return nil, fmt.Errorf("%s %s: response larger than %d bytes", req.Method, req.URL.Path, maxResponseSize)
	}
	if w.code == 0 {
		w.code = http.StatusOK
	}
	return &http.Response{
		Status: fmt.Sprintf("%d %s", w.code, http.StatusText(w.code)), StatusCode: w.code,
		Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
		Header: w.header, Body: io.NopCloser(bytes.NewReader(w.body.Bytes())),
		ContentLength: int64(w.body.Len()), Request: req,
	}, nil
}

// recorder buffers one response of the chain, up to maxResponseSize.
type recorder struct {
	header http.Header
	code   int
	body   bytes.Buffer
	over   bool
}

func (w *recorder) Header() http.Header { return w.header }

func (w *recorder) WriteHeader(code int) {
	if w.code == 0 {
		w.code = code
	}
}

func (w *recorder) Write(p []byte) (int, error) {
	w.WriteHeader(http.StatusOK)
	if w.body.Len()+len(p) > maxResponseSize {
		w.over = true
		return 0, errTooLarge
	}
	return w.body.Write(p)
}

// apiClient is a clientset that sends token through the chain in process.
func apiClient(rt inProcess, token string) (kubernetes.Interface, error) {
	return kubernetes.NewForConfig(&rest.Config{
		Host:          "https://oidc-proxy.invalid",
		BearerToken:   token,
		UserAgent:     "oidc-proxy-web",
		QPS:           -1,
		ContentConfig: rest.ContentConfig{ContentType: "application/json"},
		Transport:     rt,
	})
}

// whoAmI is the SelfSubjectReview of the token's user.
func whoAmI(ctx context.Context, c kubernetes.Interface) (*Identity, error) {
	r, err := c.AuthenticationV1().SelfSubjectReviews().Create(ctx, &authenticationv1.SelfSubjectReview{}, metav1.CreateOptions{})
	if err != nil {
		return nil, apiError("SelfSubjectReview", err)
	}
	u := r.Status.UserInfo
	id := &Identity{Username: u.Username, UID: u.UID, Groups: u.Groups}
	if len(u.Extra) > 0 {
		id.Extra = map[string][]string{}
		for k, v := range u.Extra {
			id.Extra[k] = v
		}
	}
	return id, nil
}

// permissions reviews the rules of the namespaces the user may list (the
// first maxNamespaces by name), or of "default" when listing is refused.
func permissions(ctx context.Context, c kubernetes.Interface) (*Permissions, error) {
	p := &Permissions{}
	var names []string
	list, err := c.CoreV1().Namespaces().List(ctx, metav1.ListOptions{})
	switch {
	case apierrors.IsForbidden(err):
		p.CannotList = true
		names = []string{metav1.NamespaceDefault}
	case err != nil:
		return nil, apiError("list namespaces", err)
	default:
		for _, ns := range list.Items {
			names = append(names, ns.Name)
		}
		sort.Strings(names)
		if len(names) > maxNamespaces {
			p.More = len(names) - maxNamespaces
			names = names[:maxNamespaces]
		}
	}
	reviews := make([]*authorizationv1.SubjectRulesReviewStatus, len(names))
	errs := make([]error, len(names))
	sem := make(chan struct{}, reviewsAtOnce)
	var wg sync.WaitGroup
	for i, ns := range names {
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			r, err := c.AuthorizationV1().SelfSubjectRulesReviews().Create(ctx, &authorizationv1.SelfSubjectRulesReview{
				Spec: authorizationv1.SelfSubjectRulesReviewSpec{Namespace: ns},
			}, metav1.CreateOptions{})
			if err != nil {
				errs[i] = apiError("SelfSubjectRulesReview in "+ns, err)
				return
			}
			reviews[i] = &r.Status
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	summarise(p, names, reviews)
	return p, nil
}

// atom is one verb set on one resource (or URL path).
type atom struct{ verbs, what string }

// summarise fills p from the reviews of names: atoms every namespace
// grants go to Everywhere, the rest to their namespace.
func summarise(p *Permissions, names []string, reviews []*authorizationv1.SubjectRulesReviewStatus) {
	sets := make([]map[atom]bool, len(reviews))
	for i, st := range reviews {
		sets[i] = map[atom]bool{}
		for _, r := range st.ResourceRules {
			for _, a := range resourceAtoms(r) {
				sets[i][a] = true
			}
		}
		if st.Incomplete {
			p.Incomplete = true
		}
	}
	common := map[atom]bool{}
	if len(sets) > 0 {
		for a := range sets[0] {
			every := true
			for _, s := range sets[1:] {
				every = every && s[a]
			}
			common[a] = every
		}
	}
	p.Everywhere = group(common, func(a atom) bool { return common[a] })
	for i, ns := range names {
		p.Namespaces = append(p.Namespaces, NamespaceRules{Name: ns, Rules: group(sets[i], func(a atom) bool { return !common[a] })})
	}
	if len(reviews) > 0 {
		nr := map[atom]bool{}
		for _, r := range reviews[0].NonResourceRules {
			verbs := verbList(r.Verbs)
			for _, u := range r.NonResourceURLs {
				nr[atom{verbs, u}] = true
			}
		}
		p.NonResource = group(nr, func(atom) bool { return true })
	}
}

// resourceAtoms splits a rule into one atom per resource, named as kubectl
// names them (pods, deployments.apps), with sub-resources and names kept.
func resourceAtoms(r authorizationv1.ResourceRule) []atom {
	verbs := verbList(r.Verbs)
	groups := r.APIGroups
	if len(groups) == 0 {
		groups = []string{""}
	}
	var out []atom
	for _, g := range groups {
		for _, res := range r.Resources {
			what := resourceName(g, res)
			if len(r.ResourceNames) > 0 {
				what += " (only " + strings.Join(r.ResourceNames, ", ") + ")"
			}
			out = append(out, atom{verbs, what})
		}
	}
	return out
}

func resourceName(group, resource string) string {
	switch {
	case group == "*" && resource == "*":
		return "all resources"
	case resource == "*":
		return "all resources of " + group
	case group == "":
		return resource
	case group == "*":
		return resource + " (any API group)"
	}
	return resource + "." + group
}

func verbList(verbs []string) string {
	if slices.Contains(verbs, "*") {
		return "all verbs"
	}
	v := slices.Clone(verbs)
	sort.Strings(v)
	return strings.Join(slices.Compact(v), ", ")
}

// group joins the atoms keep selects into one Rule per verb set, sorted.
func group(atoms map[atom]bool, keep func(atom) bool) []Rule {
	by := map[string][]string{}
	for a := range atoms {
		if keep(a) {
			by[a.verbs] = append(by[a.verbs], a.what)
		}
	}
	rules := make([]Rule, 0, len(by))
	for verbs, what := range by {
		sort.Strings(what)
		rules = append(rules, Rule{Verbs: verbs, What: what})
	}
	sort.Slice(rules, func(i, j int) bool { return rules[i].Verbs < rules[j].Verbs })
	return rules
}
