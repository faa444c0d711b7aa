package harness

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
)

// Names of the RBAC objects CreateTeamNamespaces makes.
const (
	TeamReaderRole    = "configmap-reader"
	TeamReaderBinding = "team-a-readers"
	// TeamAGroup is always bound to read team-a, in addition to TeamRBAC.TeamAGroups.
	TeamAGroup = "team-a-readers"
)

// TeamRBAC says who may read configmaps in namespace team-a. Nobody but the
// admin may read team-b, and nobody but the admin may list nodes.
type TeamRBAC struct {
	TeamAUsers  []string
	TeamAGroups []string
}

// CreateTeamNamespaces creates namespaces team-a and team-b, a Role in each
// that reads and watches configmaps, and a RoleBinding in team-a only.
func CreateTeamNamespaces(ctx context.Context, c kubernetes.Interface, r TeamRBAC) error {
	for _, ns := range []string{"team-a", "team-b"} {
		if _, err := c.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}); err != nil {
			return fmt.Errorf("create namespace %s: %w", ns, err)
		}
		role := &rbacv1.Role{
			ObjectMeta: metav1.ObjectMeta{Name: TeamReaderRole, Namespace: ns},
			Rules:      []rbacv1.PolicyRule{{APIGroups: []string{""}, Resources: []string{"configmaps"}, Verbs: []string{"get", "list", "watch"}}},
		}
		if _, err := c.RbacV1().Roles(ns).Create(ctx, role, metav1.CreateOptions{}); err != nil {
			return fmt.Errorf("create Role in %s: %w", ns, err)
		}
	}
	var subjects []rbacv1.Subject
	for _, u := range r.TeamAUsers {
		subjects = append(subjects, rbacv1.Subject{APIGroup: rbacv1.GroupName, Kind: rbacv1.UserKind, Name: u})
	}
	for _, g := range append([]string{TeamAGroup}, r.TeamAGroups...) {
		subjects = append(subjects, rbacv1.Subject{APIGroup: rbacv1.GroupName, Kind: rbacv1.GroupKind, Name: g})
	}
	binding := &rbacv1.RoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: TeamReaderBinding, Namespace: "team-a"},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: TeamReaderRole},
		Subjects:   subjects,
	}
	if _, err := c.RbacV1().RoleBindings("team-a").Create(ctx, binding, metav1.CreateOptions{}); err != nil {
		return fmt.Errorf("create RoleBinding in team-a: %w", err)
	}
	return nil
}
