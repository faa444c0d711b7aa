package e2e

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"

	"github.com/kube-oidc/kube-oidc/e2e/harness"
)

// webDeployment is the part of a rendered Deployment the sign-in page
// settings change.
type webDeployment struct {
	Spec struct {
		Template struct {
			Spec struct {
				Containers []corev1.Container `json:"containers"`
				Volumes    []corev1.Volume    `json:"volumes"`
			} `json:"spec"`
		} `json:"template"`
	} `json:"spec"`
}

// checkWebDeployment: the page's flags are given, and the client secret
// file the flag names is mounted from the Secret's key.
func checkWebDeployment(t *testing.T, dep webDeployment, wantArgs []string, secretName, key string) {
	t.Helper()
	c := dep.Spec.Template.Spec.Containers[0]
	for _, a := range wantArgs {
		if !slices.Contains(c.Args, a) {
			t.Errorf("args lack %q: %q", a, c.Args)
		}
	}
	const file = "/etc/oidc-proxy/web/client-secret"
	if !slices.Contains(c.Args, "--web-client-secret-file="+file) {
		t.Errorf("args lack --web-client-secret-file=%s: %q", file, c.Args)
	}
	var mount *corev1.VolumeMount
	for i, m := range c.VolumeMounts {
		if m.MountPath == filepath.Dir(file) {
			mount = &c.VolumeMounts[i]
		}
	}
	if mount == nil || !mount.ReadOnly {
		t.Fatalf("no read-only mount at %s: %+v", filepath.Dir(file), c.VolumeMounts)
	}
	for _, v := range dep.Spec.Template.Spec.Volumes {
		if v.Name != mount.Name {
			continue
		}
		if v.Secret == nil || v.Secret.SecretName != secretName || len(v.Secret.Items) != 1 ||
			v.Secret.Items[0].Key != key || v.Secret.Items[0].Path != filepath.Base(file) {
			t.Errorf("volume %s is not key %s of Secret %s at %s: %+v", v.Name, key, secretName, filepath.Base(file), v)
		}
		return
	}
	t.Errorf("no volume %s", mount.Name)
}

// TestWebShippedManifests: the chart's web and discovery values and the
// kustomize component turn the sign-in page on with the client secret from
// a Secret; the chart's defaults and the kustomize base leave it off.
func TestWebShippedManifests(t *testing.T) {
	t.Run("chart", func(t *testing.T) {
		values := chartMinimalValues + `
discovery:
  clientId: kubectl
  scopes: [email, groups]
  clusterName: prod
  caPEM: |
    -----BEGIN CERTIFICATE-----
    MIIB
    -----END CERTIFICATE-----
web:
  enabled: true
  clientId: oidc-proxy-web
  redirectUrl: https://k8s.example.com/web/callback
  extraScopes: [email, groups, "audience:server:client_id:kubernetes"]
  clientSecret: {secretName: web-secret, key: secret}
`
		objs := splitObjects(t, renderShipped(t, "helm", values, "kube-oidc"))
		var dep webDeployment
		findObject(t, objs, "Deployment", &dep)
		checkWebDeployment(t, dep, []string{"--discovery-client-id=kubectl", "--discovery-scopes=email,groups",
			"--discovery-cluster-name=prod", "--discovery-ca-file=/etc/oidc-proxy/discovery-ca/ca.crt",
			"--web-client-id=oidc-proxy-web", "--web-redirect-url=https://k8s.example.com/web/callback",
			"--web-extra-scopes=email,groups,audience:server:client_id:kubernetes"}, "web-secret", "secret")
		var cm corev1.ConfigMap
		findObject(t, objs, "ConfigMap", &cm)
		if !strings.Contains(cm.Data["discovery-ca.crt"], "BEGIN CERTIFICATE") {
			t.Errorf("the ConfigMap lacks discovery-ca.crt: %v", cm.Data)
		}

		var off webDeployment
		findObject(t, splitObjects(t, renderShipped(t, "helm", chartMinimalValues, "kube-oidc")), "Deployment", &off)
		for _, a := range off.Spec.Template.Spec.Containers[0].Args {
			if strings.HasPrefix(a, "--web-") || strings.HasPrefix(a, "--discovery-") {
				t.Errorf("the chart's defaults give %s", a)
			}
		}
	})
	t.Run("kustomize component", func(t *testing.T) {
		base, err := harness.ShippedPath(harness.KustomizeDir)
		if err != nil {
			t.Fatal(err)
		}
		overlay := t.TempDir()
		rel, err := filepath.Rel(overlay, base) // kustomize refuses absolute paths
		if err != nil {
			t.Fatal(err)
		}
		kustomization := "resources: [" + rel + "]\ncomponents: [" + filepath.Join(rel, "components", "web") + "]\n"
		if err := os.WriteFile(filepath.Join(overlay, "kustomization.yaml"), []byte(kustomization), 0o600); err != nil {
			t.Fatal(err)
		}
		out, err := harness.RenderKustomize(overlay)
		if err != nil {
			t.Fatal(err)
		}
		var dep webDeployment
		findObject(t, splitObjects(t, out), "Deployment", &dep)
		checkWebDeployment(t, dep, []string{"--discovery-client-id=kubectl", "--web-client-id=oidc-proxy-web",
			"--web-redirect-url=https://kubernetes.example.com/web/callback",
			"--authentication-config=/etc/oidc-proxy/authentication/config.yaml"}, "oidc-proxy-web", "client-secret")

		var plain webDeployment
		findObject(t, splitObjects(t, renderShipped(t, "kustomize", "", "")), "Deployment", &plain)
		for _, a := range plain.Spec.Template.Spec.Containers[0].Args {
			if strings.HasPrefix(a, "--web-") {
				t.Errorf("the kustomize base gives %s", a)
			}
		}
	})
}
