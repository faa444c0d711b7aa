package proxy

import (
	"context"
	"fmt"
	"log/slog"
	"maps"
	"net/http"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/spf13/pflag"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/apiserver/pkg/authentication/authenticator"
	"k8s.io/apiserver/pkg/authorization/authorizer"
	apiserveroptions "k8s.io/apiserver/pkg/server/options"
	authnwebhook "k8s.io/apiserver/plugin/pkg/authenticator/token/webhook"
	authzwebhook "k8s.io/apiserver/plugin/pkg/authorizer/webhook"
	authzmetrics "k8s.io/apiserver/plugin/pkg/authorizer/webhook/metrics"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/kube-oidc/kube-oidc/pkg/proxy/identity"

	"github.com/kube-oidc/kube-oidc/pkg/proxy/authn"

	"github.com/kube-oidc/kube-oidc/pkg/proxy/upstream"
)

// DefaultOriginalUserExtraPrefix is kube-oidc-proxy's prefix of the extras
// naming the real user behind an end-user impersonation
// (originaluser.jetstack.io-user, -groups, -uid, -extra), kept for
// compatibility with audit pipelines that read them.
const DefaultOriginalUserExtraPrefix = "originaluser.jetstack.io-"

// ClientIPExtraKey is the extra that --extra-user-header-client-ip sets
// (kube-oidc-proxy's name).
const ClientIPExtraKey = "remote-client-ip"

// ModeOptions are the flags of kube-oidc-proxy's modes: end-user
// impersonation, --disable-impersonation, token passthrough, extra user
// headers, the client IP and audit.
type ModeOptions struct {
	// DisableImpersonation forwards the user's own token, unchanged.
	DisableImpersonation bool
	// OriginalUserExtraPrefix names the extras that carry the real user
	// when a client impersonates (kubectl --as).
	OriginalUserExtraPrefix string
	// ImpersonationReviewTimeout bounds each SubjectAccessReview of a client's impersonation.
	ImpersonationReviewTimeout time.Duration

	// TokenPassthrough checks tokens the OIDC authenticator refuses with a
	// TokenReview and forwards them unchanged when the API server accepts them.
	TokenPassthrough          bool
	TokenPassthroughAudiences []string
	TokenReviewLimit          TokenReviewLimit

	// ExtraUserHeaders are added as extras to every impersonated identity.
	ExtraUserHeaders map[string][]string
	// ExtraUserHeaderClientIP adds the extra remote-client-ip.
	ExtraUserHeaderClientIP bool
	// TrustedProxyCIDRs are the peers whose X-Forwarded-For is believed.
	TrustedProxyCIDRs []string

	// FlushInterval is accepted for kube-oidc-proxy compatibility; streams
	// are flushed on every write anyway.
	FlushInterval time.Duration

	Audit *apiserveroptions.AuditOptions
}

// NewModeOptions returns the defaults.
func NewModeOptions() *ModeOptions {
	return &ModeOptions{
		OriginalUserExtraPrefix:    DefaultOriginalUserExtraPrefix,
		ImpersonationReviewTimeout: 10 * time.Second,
		TokenReviewLimit:           DefaultTokenReviewLimit,
		ExtraUserHeaders:           map[string][]string{},
		FlushInterval:              50 * time.Millisecond,
		Audit:                      apiserveroptions.NewAuditOptions(),
	}
}

// AddFlags registers the mode flags (not the audit flags).
func (o *ModeOptions) AddFlags(fs *pflag.FlagSet) {
	fs.BoolVar(&o.DisableImpersonation, "disable-impersonation", o.DisableImpersonation,
		"Forward each request with the user's own bearer token, unchanged, and without Impersonate-* headers (the API server must accept the token itself). Client Impersonate-* headers are passed on for the API server to authorise.")
	fs.StringVar(&o.OriginalUserExtraPrefix, "impersonation-original-user-extra-prefix", o.OriginalUserExtraPrefix,
		"When a client impersonates (kubectl --as), the real user is forwarded in the extras <prefix>user, <prefix>groups, <prefix>uid and <prefix>extra (JSON). Clients cannot set extras with this prefix.")
	fs.DurationVar(&o.ImpersonationReviewTimeout, "impersonation-review-timeout", o.ImpersonationReviewTimeout,
		"Time limit for each SubjectAccessReview that authorises a client's Impersonate-* headers (decisions are cached for 10s).")
	fs.BoolVar(&o.TokenPassthrough, "token-passthrough", o.TokenPassthrough,
		"Check a bearer token that is not a valid OIDC token with a TokenReview at the API server; if accepted, forward the request with that token unchanged (service-account and cloud tokens).")
	fs.StringSliceVar(&o.TokenPassthroughAudiences, "token-passthrough-audiences", o.TokenPassthroughAudiences,
		"Audiences for the passthrough TokenReview; the API server must report one of them. Empty: the API server's own audiences.")
	o.TokenReviewLimit.addFlags(fs)
	fs.Var(mapStringSliceValue{m: o.ExtraUserHeaders}, "extra-user-headers",
		"Extras added to every impersonated identity, as key=value,key=value (repeatable; repeated keys collect values), forwarded as Impersonate-Extra-<key>. Keys must be lower case; keys and values must not start or end with white space or contain control characters.")
	fs.BoolVar(&o.ExtraUserHeaderClientIP, "extra-user-header-client-ip", o.ExtraUserHeaderClientIP,
		"Add the extra "+ClientIPExtraKey+" with the client's IP: the TCP peer, or, when the peer is in --trusted-proxy-cidrs, the right-most untrusted X-Forwarded-For entry.")
	fs.StringSliceVar(&o.TrustedProxyCIDRs, "trusted-proxy-cidrs", o.TrustedProxyCIDRs,
		"CIDRs of load balancers in front of the proxy whose X-Forwarded-For is trusted for the client IP (e.g. 10.0.0.0/8,fd00::/8). Empty: X-Forwarded-For is never believed.")
	fs.DurationVar(&o.FlushInterval, "flush-interval", o.FlushInterval,
		"Accepted for kube-oidc-proxy compatibility and ignored: streaming responses (watches, logs -f) are flushed on every write.")
}

// AddAuditFlags registers kube-apiserver's --audit-* flags.
func (o *ModeOptions) AddAuditFlags(fs *pflag.FlagSet) {
	o.Audit.AddFlags(fs)
}

// Validate reports every invalid value.
func (o *ModeOptions) Validate() []error {
	var errs []error
	if o.DisableImpersonation && (len(o.ExtraUserHeaders) > 0 || o.ExtraUserHeaderClientIP) {
		errs = append(errs, fmt.Errorf("--extra-user-headers and --extra-user-header-client-ip need impersonation: they cannot be used with --disable-impersonation"))
	}
	if !o.TokenPassthrough && len(o.TokenPassthroughAudiences) > 0 {
		errs = append(errs, fmt.Errorf("--token-passthrough-audiences needs --token-passthrough"))
	}
	errs = append(errs, o.TokenReviewLimit.validate()...)
	if o.ImpersonationReviewTimeout <= 0 {
		errs = append(errs, fmt.Errorf("--impersonation-review-timeout must be positive, got %s", o.ImpersonationReviewTimeout))
	}
	if o.OriginalUserExtraPrefix == "" {
		errs = append(errs, fmt.Errorf("--impersonation-original-user-extra-prefix must not be empty"))
	}
	if o.OriginalUserExtraPrefix != "" {
		if p := identity.KeyProblem(o.OriginalUserExtraPrefix + "user"); p != "" {
			errs = append(errs, fmt.Errorf("--impersonation-original-user-extra-prefix %s: the extra keys it names must be canonical, but %s",
				identity.Quote(o.OriginalUserExtraPrefix), p))
		}
	}
	for _, k := range slices.Sorted(maps.Keys(o.ExtraUserHeaders)) {
		if err := identity.CheckExtra(k, o.ExtraUserHeaders[k]); err != nil {
			errs = append(errs, fmt.Errorf("--extra-user-headers: %w (it would not reach the API server unchanged)", err))
		}
		if o.OriginalUserExtraPrefix != "" && strings.HasPrefix(k, o.OriginalUserExtraPrefix) {
			errs = append(errs, fmt.Errorf("--extra-user-headers key %q uses the reserved prefix %q", k, o.OriginalUserExtraPrefix))
		}
		if o.ExtraUserHeaderClientIP && k == ClientIPExtraKey {
			errs = append(errs, fmt.Errorf("--extra-user-headers key %q is set by --extra-user-header-client-ip", k))
		}
	}
	if _, err := parseCIDRs(o.TrustedProxyCIDRs); err != nil {
		errs = append(errs, fmt.Errorf("--trusted-proxy-cidrs: %w", err))
	}
	if o.FlushInterval < 0 {
		errs = append(errs, fmt.Errorf("--flush-interval must not be negative"))
	}
	return append(errs, o.Audit.Validate()...)
}

func parseCIDRs(cidrs []string) ([]netip.Prefix, error) {
	out := make([]netip.Prefix, 0, len(cidrs))
	for _, c := range cidrs {
		p, err := netip.ParsePrefix(strings.TrimSpace(c))
		if err != nil {
			return nil, fmt.Errorf("%q is not a CIDR: %w", c, err)
		}
		out = append(out, p.Masked())
	}
	return out, nil
}

// mapStringSliceValue is a pflag.Value for key=value,key=value where a
// repeated key collects its values.
type mapStringSliceValue struct{ m map[string][]string }

func (v mapStringSliceValue) String() string {
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(v.m)) {
		for _, val := range v.m[k] {
			parts = append(parts, k+"="+val)
		}
	}
	return strings.Join(parts, ",")
}

func (v mapStringSliceValue) Set(s string) error {
	for _, pair := range strings.Split(s, ",") {
		pair = strings.TrimSpace(pair)
		if pair == "" {
			continue
		}
		k, val, ok := strings.Cut(pair, "=")
		k = strings.TrimSpace(k)
		if !ok || k == "" {
			return fmt.Errorf("%q is not key=value", pair)
		}
		v.m[k] = append(v.m[k], val)
	}
	return nil
}

func (v mapStringSliceValue) Type() string { return "key=value,..." }

// Modes is ModeOptions made ready to serve (NewModes); the zero value, or
// nil, is the default behaviour with client impersonation refused.
type Modes struct {
	// EndUser authorises client Impersonate-* headers and adds extras.
	EndUser *EndUserImpersonation
	// DisableImpersonation forwards every request with the user's token.
	DisableImpersonation bool
	// TokenReview checks non-OIDC tokens (nil: no token passthrough).
	TokenReview          authenticator.Token
	TokenReviewAudiences authenticator.Audiences
	// TokenReviewsThrottled counts the reviews refused for the limit.
	TokenReviewsThrottled prometheus.Counter
	// Passthrough reaches the API server without the proxy's credentials;
	// required with DisableImpersonation or TokenReview.
	Passthrough *upstream.APIServer
	// Audit is nil when auditing is off.
	Audit *Audit
}

func (m *Modes) passthroughEnabled() bool {
	return m != nil && (m.DisableImpersonation || m.TokenReview != nil)
}

// Decision caches, as kube-apiserver's delegated authentication and
// authorization: short, so revoked rights and tokens stop working soon.
const (
	reviewAllowedTTL = 10 * time.Second
	reviewDeniedTTL  = 10 * time.Second
	tokenReviewTTL   = 10 * time.Second
	tokenRefusedTTL  = 2 * time.Second
	tokenReviewLimit = 10 * time.Second
)

// reviewClientConfig is cfg for the SubjectAccessReview and TokenReview
// clients: no client-side rate limit (kube-oidc-proxy's default 5 QPS
// throttled busy clients into failures); the decision caches bound the load.
func reviewClientConfig(cfg *rest.Config) *rest.Config {
	c := rest.CopyConfig(cfg)
	c.QPS = -1
	c.Burst = 0
	c.RateLimiter = nil
	return c
}

// NewModes builds the review clients, the passthrough transport and the
// audit backends from the proxy's own API server credentials.
func NewModes(cfg *rest.Config, o *ModeOptions, t upstream.Timeouts, log *slog.Logger) (*Modes, error) {
	clients, err := kubernetes.NewForConfig(reviewClientConfig(cfg))
	if err != nil {
		return nil, fmt.Errorf("review client: %w", err)
	}
	backoff := wait.Backoff{Duration: 100 * time.Millisecond, Factor: 2, Jitter: 0.2, Steps: 3}
	sar, err := authzwebhook.NewFromInterface(clients.AuthorizationV1(), reviewAllowedTTL, reviewDeniedTTL,
		backoff, authorizer.DecisionNoOpinion, authzmetrics.NoopAuthorizerMetrics{}, nil)
	if err != nil {
		return nil, fmt.Errorf("SubjectAccessReview authorizer: %w", err)
	}
	m := &Modes{DisableImpersonation: o.DisableImpersonation}
	m.EndUser = &EndUserImpersonation{
		Authorizer:         sar,
		Timeout:            o.ImpersonationReviewTimeout,
		OriginalUserPrefix: o.OriginalUserExtraPrefix,
		Extra:              o.ExtraUserHeaders,
		AddClientIP:        o.ExtraUserHeaderClientIP,
		Log:                log,
	}
	if o.ExtraUserHeaderClientIP || len(o.TrustedProxyCIDRs) > 0 {
		if m.EndUser.ClientIP, err = NewClientIPResolver(o.TrustedProxyCIDRs); err != nil {
			return nil, fmt.Errorf("--trusted-proxy-cidrs: %w", err)
		}
	}
	if o.TokenPassthrough {
		noop := authnwebhook.AuthenticatorMetrics{
			RecordRequestTotal:   func(context.Context, string) {},
			RecordRequestLatency: func(context.Context, string, float64) {},
		}
		tr, err := authnwebhook.NewFromInterface(clients.AuthenticationV1(), nil, backoff, tokenReviewLimit, noop)
		if err != nil {
			return nil, fmt.Errorf("TokenReview authenticator: %w", err)
		}
		m.TokenReview, m.TokenReviewsThrottled = newTokenReviewCache(tr, o.TokenReviewLimit)
		m.TokenReviewAudiences = o.TokenPassthroughAudiences
	}
	if m.passthroughEnabled() {
		if m.Passthrough, err = upstream.New(rest.AnonymousClientConfig(cfg), t); err != nil {
			return nil, fmt.Errorf("passthrough transport: %w", err)
		}
	}
	if m.Audit, err = NewAudit(o.Audit); err != nil {
		return nil, err
	}
	if o.Audit.PolicyFile == "" && (o.Audit.LogOptions.Path != "" || o.Audit.WebhookOptions.ConfigFile != "") && log != nil {
		log.Warn("an audit backend is configured without --audit-policy-file: no audit events are written")
	}
	return m, nil
}

// transport picks the round tripper from the request's plan: the
// impersonating transport rt, or for a passthrough the API server without
// the proxy's credentials. Each request is checked against its plan first.
func (m *Modes) transport(rt http.RoundTripper, metrics *Metrics) http.RoundTripper {
	t := planTransport{impersonating: rt}
	if m.passthroughEnabled() && m.Passthrough != nil {
		var prt http.RoundTripper = m.Passthrough.Transport()
		if metrics != nil {
			prt = instrumentedTransport{next: prt, m: metrics}
		}
		t.passthrough = prt
	}
	return t
}

// authenticator wraps a for --disable-impersonation and --token-passthrough.
func (m *Modes) authenticator(a authn.Authenticator) authn.Authenticator {
	if !m.passthroughEnabled() {
		return a
	}
	return &passthroughAuthenticator{oidc: a, disable: m.DisableImpersonation, review: m.TokenReview,
		audiences: m.TokenReviewAudiences, throttled: m.TokenReviewsThrottled}
}

// withPlanDecision decides the request's forward plan, then calls next,
// which forwards by it: a passthroughUser's requests get the client's
// token (withPassthroughBranch); client Impersonate-* headers are
// authorised by kube-apiserver's impersonation filter (EndUser) or, without
// it, refused; every other request impersonates the authenticated user.
func withPlanDecision(next http.Handler, m *Modes) http.Handler {
	h := WithImpersonationRefused(withUserPlan(next))
	if m == nil {
		return h
	}
	if m.EndUser != nil {
		h = m.EndUser.Wrap(next)
	}
	if m.passthroughEnabled() {
		h = withPassthroughBranch(h, next)
	}
	return h
}

func (m *Modes) audit() *Audit {
	if m == nil {
		return nil
	}
	return m.Audit
}
