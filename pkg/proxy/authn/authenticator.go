package authn

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/otel/trace"
	"k8s.io/apiserver/pkg/apis/apiserver"
	"k8s.io/apiserver/pkg/authentication/authenticator"
	"k8s.io/apiserver/pkg/authentication/user"

	"github.com/kube-oidc/kube-oidc/pkg/proxy/tracing"
)

// Authenticator verifies bearer tokens. Safe for concurrent use.
type Authenticator interface {
	// AuthenticateToken returns the identity of a valid token. A refused token
	// gives (nil, false, err): err wraps *ForbiddenIdentityError for a refused
	// identity (403), *IssuerNotReadyError while the token's issuer is not
	// discovered yet (401 naming the cause), *UnavailableError while no token
	// can be judged at all (503), *TooManyRequestsError when a needed review
	// is rate-limited (429); every other error (ErrNoToken for an empty
	// token) means an invalid or untrusted token (401). No error contains
	// the token.
	AuthenticateToken(ctx context.Context, token string) (*authenticator.Response, bool, error)
	// HealthCheck is nil once every configured issuer's discovery succeeded (readiness).
	HealthCheck() error
}

// Reloader is implemented by the Authenticator that New returns when
// AuthenticationConfigFile is set: Reload checks the file once, as the
// background loop does every ConfigReloadInterval (e.g. for SIGHUP).
type Reloader interface {
	Reload() (applied bool, err error)
}

var _ Reloader = (*tokenAuthenticator)(nil)

// tokenAuthenticator is the Authenticator: the active issuer set (swapped
// atomically on config reload), the system: refusal, metrics.
type tokenAuthenticator struct {
	ctx         context.Context
	log         *slog.Logger
	tracer      trace.Tracer // nil: no spans
	metrics     *metrics
	allowSystem bool
	algs        []string
	cacheTTL    time.Duration
	now         func() time.Time
	configPath  string
	// anonymous is built from the first configuration file and never
	// changes (a reload that changes the section is refused); nil: off.
	anonymous       authenticator.Request
	anonymousConfig *apiserver.AnonymousAuthConfig
	// clientCert is for the issuer connections (nil: none).
	clientCert *clientCert

	active atomic.Pointer[issuerSet]

	reloadMu     sync.Mutex
	activeHash   [sha256.Size]byte
	rejectedHash [sha256.Size]byte
	rejectedErr  error
	pending      *pendingConfig
}

// pendingConfig is a valid new configuration waiting for its issuers'
// discovery before it replaces the active one.
type pendingConfig struct {
	hash [sha256.Size]byte
	data []byte
	set  *issuerSet
}

// New builds the authenticator and starts its background work (issuer
// discovery, config-file reload) until ctx ends. An unreachable issuer does not
// make it fail: tokens of that issuer are refused and HealthCheck reports the
// error until discovery succeeds.
func New(ctx context.Context, o *Options, reg prometheus.Registerer) (Authenticator, error) {
	a, err := newTokenAuthenticator(ctx, o, reg)
	if err != nil {
		return nil, err
	}
	if a.configPath != "" {
		interval := o.ConfigReloadInterval
		if interval <= 0 {
			interval = defaultConfigReloadInterval
		}
		go a.reloadLoop(interval)
	}
	return a, nil
}

func newTokenAuthenticator(ctx context.Context, o *Options, reg prometheus.Registerer) (*tokenAuthenticator, error) {
	if errs := o.Validate(); len(errs) > 0 {
		return nil, fmt.Errorf("authentication options: %w", errors.Join(errs...))
	}
	a := &tokenAuthenticator{
		ctx:         ctx,
		log:         o.Logger,
		allowSystem: o.AllowSystemIdentities,
		algs:        o.signingAlgs(),
		cacheTTL:    o.TokenCacheTTL,
		now:         o.now,
		configPath:  o.AuthenticationConfigFile,
	}
	if o.TracerProvider != nil {
		a.tracer = o.TracerProvider.Tracer("oidc-proxy/authn")
	}
	if a.log == nil {
		a.log = slog.Default()
	}
	if a.now == nil {
		a.now = time.Now
	}
	cert, err := newClientCert(ctx, o.ClientCertFile, o.ClientKeyFile)
	if err != nil {
		return nil, err
	}
	a.clientCert = cert
	var set *issuerSet
	if a.configPath != "" {
		cfg, data, err := loadConfigFile(a.configPath)
		if err != nil {
			return nil, err
		}
		hash := sha256.Sum256(data)
		if set, err = newIssuerSet(ctx, cfg, a.algs, a.cacheTTL, a.now, a.clientCert); err != nil {
			return nil, fmt.Errorf("authentication-config %s: %w", a.configPath, err)
		}
		a.activeHash = hash
		a.anonymous, a.anonymousConfig = newAnonymous(cfg), cfg.Anonymous
		configLoaded(data)
	} else {
		cfg, err := o.legacyConfig()
		if err != nil {
			return nil, err
		}
		if set, err = newIssuerSet(ctx, cfg, a.algs, a.cacheTTL, a.now, a.clientCert); err != nil {
			return nil, fmt.Errorf("oidc authenticator: %w", err)
		}
	}
	a.active.Store(set)
	m, err := newMetrics(reg, func() float64 {
		if a.active.Load().healthCheck() != nil {
			return 0
		}
		return 1
	})
	if err != nil {
		set.close()
		return nil, fmt.Errorf("register authentication metrics: %w", err)
	}
	a.metrics = m
	return a, nil
}

// How a token was judged, for the "authenticate" span (besides the
// refusal results of the metrics).
const (
	judgedCacheHit = "cache_hit"
	judgedVerified = "verified"
)

// AuthenticateToken implements Authenticator. With a tracer, it is the
// span "authenticate", whose attribute says how the token was judged.
func (a *tokenAuthenticator) AuthenticateToken(ctx context.Context, token string) (*authenticator.Response, bool, error) {
	if a.tracer == nil {
		resp, _, ok, err := a.authenticateToken(ctx, token)
		return resp, ok, err
	}
	ctx, span := a.tracer.Start(ctx, "authenticate")
	if !span.IsRecording() { // not sampled
		resp, _, ok, err := a.authenticateToken(ctx, token)
		return resp, ok, err
	}
	defer span.End()
	resp, judged, ok, err := a.authenticateToken(ctx, token)
	span.SetAttributes(tracing.AuthenticationKey.String(judged))
	return resp, ok, err
}

func (a *tokenAuthenticator) authenticateToken(ctx context.Context, token string) (*authenticator.Response, string, bool, error) {
	if token == "" {
		a.metrics.result(resultNoToken)
		return nil, resultNoToken, false, ErrNoToken
	}
	set := a.active.Load()
	key := cacheKey(token)
	if a.cacheTTL > 0 {
		if resp, ok := set.cache.get(key); ok {
			a.metrics.cacheHit.Inc()
			a.metrics.result(resultSuccess)
			return copyResponse(resp), judgedCacheHit, true, nil
		}
		a.metrics.cacheMiss.Inc()
	}
	resp, result, err := set.authenticate(ctx, token)
	if err != nil {
		a.metrics.result(result)
		return nil, result, false, err
	}
	if !a.allowSystem {
		if err := checkIdentity(resp.User.GetName(), resp.User.GetGroups()); err != nil {
			a.metrics.result(resultForbiddenIdentity)
			return nil, resultForbiddenIdentity, false, err
		}
	}
	set.cache.put(key, token, resp)
	a.metrics.result(resultSuccess)
	return copyResponse(resp), judgedVerified, true, nil
}

// copyResponse gives each caller its own user info, so that a caller adding
// e.g. system:authenticated to the groups cannot change a cached entry that
// other requests share. The response, the user info and (up to
// inlineGroups) the groups share one allocation.
func copyResponse(r *authenticator.Response) *authenticator.Response {
	u := r.User
	var extra map[string][]string
	if e := u.GetExtra(); e != nil {
		extra = make(map[string][]string, len(e))
		for k, v := range e {
			extra[k] = slices.Clone(v)
		}
	}
	c := &responseCopy{}
	c.info = user.DefaultInfo{Name: u.GetName(), UID: u.GetUID(), Extra: extra}
	if groups := u.GetGroups(); groups != nil {
		if len(groups) <= inlineGroups {
			// Capacity len(groups): an append by the caller copies out.
			c.info.Groups = append(c.groups[:0:len(groups)], groups...)
		} else {
			c.info.Groups = slices.Clone(groups)
		}
	}
	c.resp = authenticator.Response{Audiences: slices.Clone(r.Audiences), User: &c.info}
	return &c.resp
}

// inlineGroups is how many groups copyResponse stores without a separate
// allocation.
const inlineGroups = 8

type responseCopy struct {
	resp   authenticator.Response
	info   user.DefaultInfo
	groups [inlineGroups]string
}

// Anonymous implements AnonymousAuthenticator.
func (a *tokenAuthenticator) Anonymous() authenticator.Request {
	return a.anonymous
}

// HealthCheck implements Authenticator.
func (a *tokenAuthenticator) HealthCheck() error {
	return a.active.Load().healthCheck()
}

func (a *tokenAuthenticator) reloadLoop(interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-a.ctx.Done():
			return
		case <-t.C:
			_, _ = a.Reload()
		}
	}
}

// Reload checks the authentication config file once. A changed, valid file
// becomes pending; a pending configuration replaces the active one as soon as
// every one of its issuers is discovered (applied is true then). An unreadable
// or invalid file is logged and the active configuration keeps serving.
// Reload is what the background loop calls every ConfigReloadInterval.
func (a *tokenAuthenticator) Reload() (applied bool, err error) {
	if a.configPath == "" {
		return false, nil
	}
	a.reloadMu.Lock()
	defer a.reloadMu.Unlock()

	data, err := os.ReadFile(a.configPath)
	if err != nil {
		// Possibly transient (file being replaced): keep retrying.
		a.log.Error("authentication config: cannot read the file; keeping the current configuration",
			"path", a.configPath, "error", err)
		a.metrics.reloadFailed()
		return false, fmt.Errorf("authentication-config: %w", err)
	}
	hash := sha256.Sum256(data)
	switch {
	case hash == a.activeHash:
		a.dropPending()
		return false, nil
	case hash == a.rejectedHash:
		return false, a.rejectedErr
	case a.pending != nil && a.pending.hash == hash:
		return a.promotePending(), nil
	}

	a.dropPending()
	cfg, err := parseConfig(data)
	if err == nil {
		err = anonymousChanged(a.anonymousConfig, cfg.Anonymous)
	}
	if err != nil {
		err = fmt.Errorf("authentication-config %s: %w", a.configPath, err)
		a.rejectedHash, a.rejectedErr = hash, err
		a.log.Error("authentication config: the new file is invalid; keeping the current configuration",
			"path", a.configPath, "error", err)
		a.metrics.reloadFailed()
		return false, err
	}
	set, err := newIssuerSet(a.ctx, cfg, a.algs, a.cacheTTL, a.now, a.clientCert)
	if err != nil {
		err = fmt.Errorf("authentication-config %s: %w", a.configPath, err)
		a.rejectedHash, a.rejectedErr = hash, err
		a.log.Error("authentication config: cannot build the new configuration; keeping the current one",
			"path", a.configPath, "error", err)
		a.metrics.reloadFailed()
		return false, err
	}
	a.pending = &pendingConfig{hash: hash, data: data, set: set}
	a.log.Info("authentication config: new configuration is valid; waiting for its issuers before using it",
		"path", a.configPath)
	return a.promotePending(), nil
}

// promotePending swaps in the pending configuration if its issuers are all
// discovered. Caller holds reloadMu.
func (a *tokenAuthenticator) promotePending() bool {
	p := a.pending
	if p == nil || p.set.healthCheck() != nil {
		return false
	}
	old := a.active.Swap(p.set)
	a.activeHash = p.hash
	a.pending = nil
	old.close()
	a.metrics.reloaded(p.data)
	a.log.Info("authentication config: reloaded", "path", a.configPath, "issuers", len(p.set.issuers))
	return true
}

// dropPending abandons a pending configuration. Caller holds reloadMu.
func (a *tokenAuthenticator) dropPending() {
	if a.pending != nil {
		a.pending.set.close()
		a.pending = nil
	}
}
