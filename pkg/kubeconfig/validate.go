package kubeconfig

import (
	"context"
	"fmt"

	authenticationv1 "k8s.io/api/authentication/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/runtime/serializer"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
)

// Validate asks the API server of contextName in the kubeconfig at path who
// the caller is, through a SelfSubjectReview, exactly as kubectl would
// authenticate (so the exec plugin runs and may log in).
func Validate(ctx context.Context, path, contextName string) (authenticationv1.UserInfo, error) {
	rules := &clientcmd.ClientConfigLoadingRules{ExplicitPath: path}
	overrides := &clientcmd.ConfigOverrides{CurrentContext: contextName}
	restCfg, err := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, overrides).ClientConfig()
	if err != nil {
		return authenticationv1.UserInfo{}, fmt.Errorf("load context %q: %w", contextName, err)
	}
	u, err := SelfSubjectReview(ctx, restCfg)
	if err != nil {
		return authenticationv1.UserInfo{}, fmt.Errorf("SelfSubjectReview through context %q: %w", contextName, err)
	}
	return u, nil
}

// SelfSubjectReview asks the API server of cfg who the caller is
// (authentication.k8s.io/v1). It uses a REST client with a scheme holding
// only that group, not client-go's typed clientset: registering every API
// group at start-up would slow down every run of the binary, get-token's
// included.
func SelfSubjectReview(ctx context.Context, cfg *rest.Config) (authenticationv1.UserInfo, error) {
	scheme := runtime.NewScheme()
	if err := authenticationv1.AddToScheme(scheme); err != nil {
		return authenticationv1.UserInfo{}, fmt.Errorf("register authentication.k8s.io/v1: %w", err)
	}
	metav1.AddToGroupVersion(scheme, schema.GroupVersion{Version: "v1"})
	c := rest.CopyConfig(cfg)
	c.GroupVersion = &authenticationv1.SchemeGroupVersion
	c.APIPath = "/apis"
	c.NegotiatedSerializer = serializer.NewCodecFactory(scheme).WithoutConversion()
	if c.UserAgent == "" {
		c.UserAgent = rest.DefaultKubernetesUserAgent()
	}
	client, err := rest.RESTClientFor(c)
	if err != nil {
		return authenticationv1.UserInfo{}, fmt.Errorf("REST client: %w", err)
	}
	review := &authenticationv1.SelfSubjectReview{}
	err = client.Post().Resource("selfsubjectreviews").Body(&authenticationv1.SelfSubjectReview{}).Do(ctx).Into(review)
	if err != nil {
		return authenticationv1.UserInfo{}, err
	}
	return review.Status.UserInfo, nil
}
