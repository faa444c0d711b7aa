package kubeconfig

import (
	"context"
	"fmt"

	authenticationv1 "k8s.io/api/authentication/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	authv1client "k8s.io/client-go/kubernetes/typed/authentication/v1"
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
	client, err := authv1client.NewForConfig(restCfg)
	if err != nil {
		return authenticationv1.UserInfo{}, fmt.Errorf("client for context %q: %w", contextName, err)
	}
	review, err := client.SelfSubjectReviews().Create(ctx, &authenticationv1.SelfSubjectReview{}, metav1.CreateOptions{})
	if err != nil {
		return authenticationv1.UserInfo{}, fmt.Errorf("SelfSubjectReview through context %q: %w", contextName, err)
	}
	return review.Status.UserInfo, nil
}
