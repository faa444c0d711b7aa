package proxy

import (
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"

	rbacv1 "k8s.io/api/rbac/v1"
	"sigs.k8s.io/yaml"
)

// TestShippedClusterRolesGrantBuiltinExtraKeys: the ClusterRoles shipped as
// plain YAML (README.md's, deploy/kustomize's) let the proxy impersonate
// exactly BuiltinExtraKeys under the default prefix, so a new extra the proxy
// forwards cannot be missed there (the chart is held to kustomize's list by
// the e2e suite, which renders it).
func TestShippedClusterRolesGrantBuiltinExtraKeys(t *testing.T) {
	want := BuiltinExtraKeys(DefaultOriginalUserExtraPrefix)
	slices.Sort(want)
	tests := []struct {
		name, file string
		pick       *regexp.Regexp // the ClusterRole's text in the file
	}{
		{name: "README.md", file: "../../README.md", pick: regexp.MustCompile("(?s)```yaml\n(apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRole\n.*?)```")},
		{name: "deploy/kustomize", file: "../../deploy/kustomize/rbac.yaml", pick: regexp.MustCompile("(?s)\\A(.*?)\n---\n")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, err := os.ReadFile(tt.file)
			if err != nil {
				t.Fatal(err)
			}
			m := tt.pick.FindSubmatch(b)
			if m == nil {
				t.Fatalf("%s: no ClusterRole found", tt.file)
			}
			var role rbacv1.ClusterRole
			if err := yaml.UnmarshalStrict(m[1], &role); err != nil {
				t.Fatalf("%s: %v", tt.file, err)
			}
			if role.Kind != "ClusterRole" {
				t.Fatalf("%s: found a %q, want the ClusterRole", tt.file, role.Kind)
			}
			var got []string
			for _, r := range role.Rules {
				if !slices.Contains(r.APIGroups, "authentication.k8s.io") || !slices.Contains(r.Verbs, "impersonate") {
					continue
				}
				for _, res := range r.Resources {
					if k, ok := strings.CutPrefix(res, "userextras/"); ok {
						got = append(got, k)
					}
				}
			}
			slices.Sort(got)
			if !slices.Equal(got, want) {
				t.Errorf("%s grants userextras %q, want %q (the extras oidc-proxy forwards itself)", tt.file, got, want)
			}
		})
	}
}
