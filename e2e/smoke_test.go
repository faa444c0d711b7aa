package e2e

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/kube-oidc/kube-oidc/e2e/harness"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
)

// TestHarnessAPIServerEnforcesTokensAndRBAC starts etcd and kube-apiserver,
// lets the admin create a namespace and RBAC objects, and checks that the
// API server authenticates and authorises as the later scenarios rely on:
// unknown tokens 401, the proxy identity may impersonate and nothing else,
// an impersonated user gets exactly what RBAC binds.
func TestHarnessAPIServerEnforcesTokensAndRBAC(t *testing.T) {
	api := harness.StartAPIServer(t)
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	admin := api.AdminClient(t)
	if err := harness.CreateTeamNamespaces(ctx, admin, harness.TeamRBAC{TeamAUsers: []string{"carol"}}); err != nil {
		api.Fatalf(t, "admin creates namespaces and RBAC: %v", err)
	}
	if _, err := admin.CoreV1().ConfigMaps("team-a").Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "smoke"}}, metav1.CreateOptions{}); err != nil {
		api.Fatalf(t, "admin creates a configmap: %v", err)
	}
	rb, err := admin.RbacV1().RoleBindings("team-a").Get(ctx, harness.TeamReaderBinding, metav1.GetOptions{})
	if err != nil {
		api.Fatalf(t, "admin reads the RoleBinding back: %v", err)
	}
	if len(rb.Subjects) == 0 || rb.Subjects[0].Kind != rbacv1.UserKind || rb.Subjects[0].Name != "carol" {
		t.Fatalf("RoleBinding subjects = %+v, want user carol", rb.Subjects)
	}

	clientFor := func(token string, imp rest.ImpersonationConfig) kubernetes.Interface {
		cfg := api.RESTConfig(token)
		cfg.Impersonate = imp
		c, err := kubernetes.NewForConfig(cfg)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	tests := []struct {
		name       string
		token      string
		imp        rest.ImpersonationConfig
		namespace  string
		wantStatus int32 // 0: allowed
	}{
		{name: "unknown token is unauthorized", token: "not-a-token", namespace: "team-a", wantStatus: 401},
		{name: "proxy identity alone may not read configmaps", token: api.ProxyToken, namespace: "team-a", wantStatus: 403},
		{name: "proxy impersonating a team-a reader may read team-a", token: api.ProxyToken, imp: rest.ImpersonationConfig{UserName: "carol"}, namespace: "team-a"},
		{name: "proxy impersonating a team-a reader may not read team-b", token: api.ProxyToken, imp: rest.ImpersonationConfig{UserName: "carol"}, namespace: "team-b", wantStatus: 403},
		{name: "proxy impersonating an unbound user may not read team-a", token: api.ProxyToken, imp: rest.ImpersonationConfig{UserName: "mallory"}, namespace: "team-a", wantStatus: 403},
		{name: "proxy impersonating a user in the team-a group may read team-a", token: api.ProxyToken, imp: rest.ImpersonationConfig{UserName: "dave", Groups: []string{"team-a-readers"}}, namespace: "team-a"},
		{name: "admin token may read team-b", token: api.AdminToken, namespace: "team-b"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := clientFor(tt.token, tt.imp).CoreV1().ConfigMaps(tt.namespace).List(ctx, metav1.ListOptions{})
			if tt.wantStatus == 0 {
				if err != nil {
					api.Fatalf(t, "list configmaps in %s: %v", tt.namespace, err)
				}
				return
			}
			var status apierrors.APIStatus
			if !errors.As(err, &status) || status.Status().Code != tt.wantStatus {
				api.Fatalf(t, "list configmaps in %s: got %v, want HTTP %d", tt.namespace, err, tt.wantStatus)
			}
		})
	}
}
