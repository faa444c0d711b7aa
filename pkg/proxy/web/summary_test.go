package web

import (
	"reflect"
	"testing"

	authorizationv1 "k8s.io/api/authorization/v1"
)

func TestSummarise(t *testing.T) {
	view := authorizationv1.ResourceRule{Verbs: []string{"list", "get", "watch"}, APIGroups: []string{"", "apps"}, Resources: []string{"pods", "deployments"}}
	tests := []struct {
		name    string
		names   []string
		reviews []authorizationv1.SubjectRulesReviewStatus
		want    Permissions
	}{
		{
			name:  "cluster-admin",
			names: []string{"a", "b"},
			reviews: []authorizationv1.SubjectRulesReviewStatus{
				{ResourceRules: []authorizationv1.ResourceRule{{Verbs: []string{"*"}, APIGroups: []string{"*"}, Resources: []string{"*"}}}},
				{ResourceRules: []authorizationv1.ResourceRule{{Verbs: []string{"*"}, APIGroups: []string{"*"}, Resources: []string{"*"}}}},
			},
			want: Permissions{
				Everywhere: []Rule{{Verbs: "all verbs", What: []string{"all resources"}}},
				Namespaces: []NamespaceRules{{Name: "a", Rules: []Rule{}}, {Name: "b", Rules: []Rule{}}},
			},
		},
		{
			name:  "viewer everywhere, editor of one namespace with named secrets",
			names: []string{"dev", "prod"},
			reviews: []authorizationv1.SubjectRulesReviewStatus{
				{ResourceRules: []authorizationv1.ResourceRule{view,
					{Verbs: []string{"create", "delete"}, APIGroups: []string{""}, Resources: []string{"pods"}},
					{Verbs: []string{"get"}, APIGroups: []string{""}, Resources: []string{"secrets"}, ResourceNames: []string{"db", "tls"}},
				}, Incomplete: true},
				{ResourceRules: []authorizationv1.ResourceRule{view},
					NonResourceRules: []authorizationv1.NonResourceRule{{Verbs: []string{"get"}, NonResourceURLs: []string{"/version"}}}},
			},
			want: Permissions{
				Everywhere: []Rule{{Verbs: "get, list, watch", What: []string{"deployments", "deployments.apps", "pods", "pods.apps"}}},
				Namespaces: []NamespaceRules{
					{Name: "dev", Rules: []Rule{{Verbs: "create, delete", What: []string{"pods"}}, {Verbs: "get", What: []string{"secrets (only db, tls)"}}}},
					{Name: "prod", Rules: []Rule{}},
				},
				Incomplete:  true,
				NonResource: []Rule{},
			},
		},
		{
			name:  "group-wide and any-group resources",
			names: []string{"x"},
			reviews: []authorizationv1.SubjectRulesReviewStatus{{ResourceRules: []authorizationv1.ResourceRule{
				{Verbs: []string{"get", "get"}, APIGroups: []string{"batch"}, Resources: []string{"*"}},
				{Verbs: []string{"list"}, APIGroups: []string{"*"}, Resources: []string{"events"}},
			}}},
			want: Permissions{
				Everywhere: []Rule{{Verbs: "get", What: []string{"all resources of batch"}}, {Verbs: "list", What: []string{"events (any API group)"}}},
				Namespaces: []NamespaceRules{{Name: "x", Rules: []Rule{}}},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var ptrs []*authorizationv1.SubjectRulesReviewStatus
			for i := range tt.reviews {
				ptrs = append(ptrs, &tt.reviews[i])
			}
			var got Permissions
			summarise(&got, tt.names, ptrs)
			if got.NonResource == nil {
				got.NonResource = []Rule{}
			}
			if tt.want.NonResource == nil {
				tt.want.NonResource = []Rule{}
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got  %+v\nwant %+v", got, tt.want)
			}
		})
	}
}
