package authn

import (
	"errors"
	"fmt"
	"os"

	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/serializer"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"k8s.io/apiserver/pkg/apis/apiserver"
	"k8s.io/apiserver/pkg/apis/apiserver/install"
	apiservervalidation "k8s.io/apiserver/pkg/apis/apiserver/validation"
	authenticationcel "k8s.io/apiserver/pkg/authentication/cel"
)

// configCodecs decode AuthenticationConfiguration in every version the
// apiserver config scheme knows (apiserver.config.k8s.io/v1, v1beta1, and the
// older v1alpha1), strictly: unknown fields are errors.
var configCodecs = func() serializer.CodecFactory {
	scheme := runtime.NewScheme()
	install.Install(scheme)
	return serializer.NewCodecFactory(scheme, serializer.EnableStrict)
}()

// celCompiler is shared: building a CEL environment is expensive and the
// compiler is safe for concurrent use.
var celCompiler = authenticationcel.NewDefaultCompiler()

// loadConfigFile reads, decodes and validates an AuthenticationConfiguration
// file. It returns the configuration and the file's content.
func loadConfigFile(path string) (*apiserver.AuthenticationConfiguration, []byte, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, nil, fmt.Errorf("authentication-config: %w", err)
	}
	cfg, err := parseConfig(data)
	if err != nil {
		return nil, data, fmt.Errorf("authentication-config %s: %w", path, err)
	}
	return cfg, data, nil
}

// parseConfig decodes and validates the content of an authentication config file.
func parseConfig(data []byte) (*apiserver.AuthenticationConfiguration, error) {
	if len(data) == 0 {
		return nil, errors.New("empty config data")
	}
	obj, err := runtime.Decode(configCodecs.UniversalDecoder(), data)
	if err != nil {
		return nil, fmt.Errorf("decode: %w", err)
	}
	cfg, ok := obj.(*apiserver.AuthenticationConfiguration)
	if !ok || cfg == nil {
		return nil, fmt.Errorf("expected AuthenticationConfiguration, got %T", obj)
	}
	if err := validateConfig(cfg); err != nil {
		return nil, err
	}
	return cfg, nil
}

// validateConfig applies kube-apiserver's validation, then the proxy's own
// restrictions: at least one JWT authenticator, anonymous authentication
// only on listed paths (validateAnonymous), no egress selector (the proxy
// has no konnectivity egress).
func validateConfig(cfg *apiserver.AuthenticationConfiguration) error {
	errs := apiservervalidation.ValidateAuthenticationConfiguration(celCompiler, cfg, nil)
	if len(cfg.JWT) == 0 {
		errs = append(errs, field.Required(field.NewPath("jwt"), "oidc-proxy needs at least one JWT authenticator"))
	}
	errs = append(errs, validateAnonymous(cfg.Anonymous)...)
	for i, j := range cfg.JWT {
		if j.Issuer.EgressSelectorType != "" {
			errs = append(errs, field.Forbidden(field.NewPath("jwt").Index(i).Child("issuer", "egressSelectorType"),
				"oidc-proxy has no egress selector; reach the issuer directly"))
		}
	}
	if err := errs.ToAggregate(); err != nil {
		return fmt.Errorf("invalid authentication configuration: %w", err)
	}
	return nil
}
