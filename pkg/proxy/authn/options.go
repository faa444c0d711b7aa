// Package authn verifies the bearer tokens the proxy receives, exactly as
// kube-apiserver would: through k8s.io/apiserver's OIDC authenticator,
// configured either by the legacy --oidc-* flags or by an
// AuthenticationConfiguration file, with a token cache capped at the token's
// expiry and a refusal of reserved "system:" identities.
package authn

import (
	"errors"
	"fmt"
	"go.opentelemetry.io/otel/trace"
	"log/slog"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/spf13/pflag"
	"k8s.io/apiserver/pkg/apis/apiserver"
	"k8s.io/apiserver/plugin/pkg/authenticator/token/oidc"
	cliflag "k8s.io/component-base/cli/flag"
	"k8s.io/utils/ptr"
)

// Flag names, the same as kube-apiserver's.
const (
	flagIssuerURL             = "oidc-issuer-url"
	flagClientID              = "oidc-client-id"
	flagCAFile                = "oidc-ca-file"
	flagUsernameClaim         = "oidc-username-claim"
	flagUsernamePrefix        = "oidc-username-prefix"
	flagGroupsClaim           = "oidc-groups-claim"
	flagGroupsPrefix          = "oidc-groups-prefix"
	flagRequiredClaim         = "oidc-required-claim"
	flagSigningAlgs           = "oidc-signing-algs"
	flagAuthenticationConfig  = "authentication-config"
	flagTokenCacheTTL         = "token-cache-ttl"
	flagAllowSystemIdentities = "allow-system-identities"

	rs256                       = "RS256"
	defaultUsernameClaim        = "sub"
	defaultTokenCacheTTL        = 10 * time.Second
	defaultConfigReloadInterval = 10 * time.Second
)

var legacyFlags = []string{flagIssuerURL, flagClientID, flagCAFile, flagUsernameClaim, flagUsernamePrefix,
	flagGroupsClaim, flagGroupsPrefix, flagRequiredClaim, flagSigningAlgs}

// Options are the authentication flags, with kube-apiserver's names, semantics
// and defaults.
type Options struct {
	IssuerURL, ClientID, CAFile, UsernameClaim, UsernamePrefix, GroupsClaim, GroupsPrefix string

	RequiredClaims map[string]string
	SigningAlgs    []string

	AuthenticationConfigFile string

	// ClientCertFile and ClientKeyFile are the client certificate for the
	// connections to every issuer (discovery, keys), for issuers that
	// require TLS client authentication; re-read when the files change.
	ClientCertFile, ClientKeyFile string

	// TokenCacheTTL is how long a successful authentication is cached
	// (--token-cache-ttl, default 10s); never past the token's exp. 0 disables the cache.
	TokenCacheTTL time.Duration
	// AllowSystemIdentities lets mapped usernames and groups start with "system:".
	AllowSystemIdentities bool
	// ConfigReloadInterval is how often the authentication config file is checked for changes.
	ConfigReloadInterval time.Duration

	// TracerProvider, when set, traces each authentication as a span
	// "authenticate" (pkg/proxy/tracing); nil: no spans.
	TracerProvider trace.TracerProvider

	// Logger receives configuration reload and discovery messages (default slog.Default()).
	// It never receives a token.
	Logger *slog.Logger

	// fs is the flag set AddFlags registered on, to tell explicitly given
	// --oidc-* flags from defaults.
	fs *pflag.FlagSet
	// now is the cache's clock (tests).
	now func() time.Time
}

// NewOptions returns the options with kube-apiserver's defaults.
func NewOptions() *Options {
	return &Options{
		UsernameClaim:        defaultUsernameClaim,
		SigningAlgs:          []string{rs256},
		TokenCacheTTL:        defaultTokenCacheTTL,
		ConfigReloadInterval: defaultConfigReloadInterval,
	}
}

// AddFlags registers the authentication flags on fs.
func (o *Options) AddFlags(fs *pflag.FlagSet) {
	o.fs = fs
	fs.StringVar(&o.IssuerURL, flagIssuerURL, o.IssuerURL, ""+
		"The URL of the OpenID issuer, only HTTPS scheme will be accepted. "+
		"If set, it will be used to verify the OIDC JSON Web Token (JWT).")
	fs.StringVar(&o.ClientID, flagClientID, o.ClientID, ""+
		"The client ID for the OpenID Connect client, must be set if oidc-issuer-url is set.")
	fs.StringVar(&o.CAFile, flagCAFile, o.CAFile, ""+
		"If set, the OpenID server's certificate will be verified by one of the authorities "+
		"in the oidc-ca-file, otherwise the host's root CA set will be used.")
	fs.StringVar(&o.UsernameClaim, flagUsernameClaim, o.UsernameClaim, ""+
		"The OpenID claim to use as the user name. Note that claims other than the default ('sub') "+
		"are not guaranteed to be unique and immutable.")
	fs.StringVar(&o.UsernamePrefix, flagUsernamePrefix, o.UsernamePrefix, ""+
		"If provided, all usernames will be prefixed with this value. If not provided, "+
		"username claims other than 'email' are prefixed by the issuer URL to avoid "+
		"clashes. To skip any prefixing, provide the value '-'.")
	fs.StringVar(&o.GroupsClaim, flagGroupsClaim, o.GroupsClaim, ""+
		"If provided, the name of a custom OpenID Connect claim for specifying user groups. "+
		"The claim value is expected to be a string or array of strings.")
	fs.StringVar(&o.GroupsPrefix, flagGroupsPrefix, o.GroupsPrefix, ""+
		"If provided, all groups will be prefixed with this value to prevent conflicts with "+
		"other authentication strategies. Requires --oidc-groups-claim.")
	if o.RequiredClaims == nil {
		o.RequiredClaims = map[string]string{}
	}
	fs.Var(cliflag.NewMapStringStringNoSplit(&o.RequiredClaims), flagRequiredClaim, ""+
		"A key=value pair that describes a required claim in the ID Token. "+
		"If set, the claim is verified to be present in the ID Token with a matching value. "+
		"Repeat this flag to specify multiple claims.")
	fs.StringSliceVar(&o.SigningAlgs, flagSigningAlgs, o.SigningAlgs, ""+
		"Comma-separated list of allowed JOSE asymmetric signing algorithms. JWTs with a "+
		"supported 'alg' header values are: "+strings.Join(oidc.AllValidSigningAlgorithms(), ", ")+". "+
		"Values are defined by RFC 7518 https://tools.ietf.org/html/rfc7518#section-3.1.")
	fs.StringVar(&o.AuthenticationConfigFile, flagAuthenticationConfig, o.AuthenticationConfigFile, ""+
		"File with an AuthenticationConfiguration (apiserver.config.k8s.io/v1 or v1beta1) to configure "+
		"one or more JWT authenticators with CEL claim mappings and validation rules. "+
		"The file is re-read when it changes; a new configuration is used once it is valid and its issuers answer. "+
		"This flag is mutually exclusive with the --oidc-* flags.")
	fs.StringVar(&o.ClientCertFile, flagClientCertFile, o.ClientCertFile, ""+
		"Client certificate (PEM) presented to the OpenID issuers (discovery and key fetches) that require TLS client authentication; "+
		"with --oidc-client-key-file. Works with --oidc-issuer-url and --authentication-config (every issuer). The files are re-read when they change.")
	fs.StringVar(&o.ClientKeyFile, flagClientKeyFile, o.ClientKeyFile, ""+
		"Private key (PEM) of --oidc-client-cert-file.")
	fs.DurationVar(&o.TokenCacheTTL, flagTokenCacheTTL, o.TokenCacheTTL, ""+
		"The duration to cache successful token authentications, keyed by the SHA-256 of the token. "+
		"An entry never outlives the token's expiry. Failures are not cached. 0 disables the cache.")
	fs.BoolVar(&o.AllowSystemIdentities, flagAllowSystemIdentities, o.AllowSystemIdentities, ""+
		"Allow tokens whose mapped username or groups start with 'system:'. By default they are refused "+
		"with 403, so that an identity provider cannot grant e.g. system:masters.")
}

// legacyFlagsSet reports whether any --oidc-* flag was given (or set to a
// non-default value programmatically).
func (o *Options) legacyFlagsSet() bool {
	if o.fs != nil {
		for _, name := range legacyFlags {
			if o.fs.Changed(name) {
				return true
			}
		}
	}
	return o.IssuerURL != "" || o.ClientID != "" || o.CAFile != "" ||
		(o.UsernameClaim != "" && o.UsernameClaim != defaultUsernameClaim) ||
		o.UsernamePrefix != "" || o.GroupsClaim != "" || o.GroupsPrefix != "" ||
		len(o.RequiredClaims) > 0 ||
		(len(o.SigningAlgs) > 0 && !slices.Equal(o.SigningAlgs, []string{rs256}))
}

// Validate checks the options with kube-apiserver's rules. It reads the CA
// file and the authentication config file, as kube-apiserver does at start.
func (o *Options) Validate() []error {
	var errs []error
	if o.TokenCacheTTL < 0 {
		errs = append(errs, fmt.Errorf("%s must not be negative, got %s", flagTokenCacheTTL, o.TokenCacheTTL))
	}
	if o.ConfigReloadInterval < 0 {
		errs = append(errs, fmt.Errorf("config reload interval must not be negative, got %s", o.ConfigReloadInterval))
	}
	if err := o.checkClientCert(); err != nil {
		errs = append(errs, err)
	}
	legacy := o.legacyFlagsSet()
	if o.AuthenticationConfigFile != "" {
		if legacy {
			errs = append(errs, errors.New("authentication-config file and oidc-* flags are mutually exclusive"))
			return errs
		}
		if _, _, err := loadConfigFile(o.AuthenticationConfigFile); err != nil {
			errs = append(errs, err)
		}
		return errs
	}
	if !legacy {
		errs = append(errs, errors.New("either oidc-issuer-url and oidc-client-id, or authentication-config, must be specified"))
		return errs
	}
	if o.IssuerURL == "" || o.ClientID == "" {
		errs = append(errs, errors.New("oidc-issuer-url and oidc-client-id must be specified together when any oidc-* flags are set"))
		return errs
	}
	if _, err := o.legacyConfig(); err != nil {
		errs = append(errs, err)
	}
	return errs
}

// legacyConfig converts the --oidc-* flags into an AuthenticationConfiguration
// the way kube-apiserver does, and validates it.
func (o *Options) legacyConfig() (*apiserver.AuthenticationConfiguration, error) {
	var errs []error
	for _, alg := range o.SigningAlgs {
		if !slices.Contains(oidc.AllValidSigningAlgorithms(), alg) {
			errs = append(errs, fmt.Errorf("%s: unsupported signing alg %q (supported: %s)",
				flagSigningAlgs, alg, strings.Join(oidc.AllValidSigningAlgorithms(), ", ")))
		}
	}
	if o.GroupsPrefix != "" && o.GroupsClaim == "" {
		errs = append(errs, fmt.Errorf("%s is set but %s is not: the prefix would never apply; set --%s or remove --%s",
			flagGroupsPrefix, flagGroupsClaim, flagGroupsClaim, flagGroupsPrefix))
	}

	usernamePrefix := o.UsernamePrefix
	if usernamePrefix == "" && o.UsernameClaim != "email" {
		// kube-apiserver's legacy behaviour: claims other than email are
		// prefixed by the issuer URL so that they cannot clash with other users.
		usernamePrefix = o.IssuerURL + "#"
	}
	if o.UsernamePrefix == "-" {
		usernamePrefix = ""
	}
	jwt := apiserver.JWTAuthenticator{
		Issuer: apiserver.Issuer{URL: o.IssuerURL, Audiences: []string{o.ClientID}},
		ClaimMappings: apiserver.ClaimMappings{
			Username: apiserver.PrefixedClaimOrExpression{Prefix: ptr.To(usernamePrefix), Claim: o.UsernameClaim},
		},
	}
	if o.GroupsClaim != "" {
		jwt.ClaimMappings.Groups = apiserver.PrefixedClaimOrExpression{Prefix: ptr.To(o.GroupsPrefix), Claim: o.GroupsClaim}
	}
	if o.CAFile != "" {
		ca, err := os.ReadFile(o.CAFile)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", flagCAFile, err))
		} else {
			jwt.Issuer.CertificateAuthority = string(ca)
		}
	}
	claims := make([]string, 0, len(o.RequiredClaims))
	for c := range o.RequiredClaims {
		claims = append(claims, c)
	}
	slices.Sort(claims)
	for _, c := range claims {
		jwt.ClaimValidationRules = append(jwt.ClaimValidationRules,
			apiserver.ClaimValidationRule{Claim: c, RequiredValue: o.RequiredClaims[c]})
	}
	cfg := &apiserver.AuthenticationConfiguration{JWT: []apiserver.JWTAuthenticator{jwt}}
	if err := validateConfig(cfg); err != nil {
		errs = append(errs, err)
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return cfg, nil
}

// signingAlgs returns the algorithms accepted for the configuration: the flag
// for the legacy form, every valid asymmetric algorithm for the config file
// (as kube-apiserver does).
func (o *Options) signingAlgs() []string {
	if o.AuthenticationConfigFile != "" {
		return oidc.AllValidSigningAlgorithms()
	}
	if len(o.SigningAlgs) == 0 {
		return []string{rs256}
	}
	return o.SigningAlgs
}
