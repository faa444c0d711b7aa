package harness

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"helm.sh/helm/v3/pkg/action"
	"helm.sh/helm/v3/pkg/chart/loader"
	"helm.sh/helm/v3/pkg/chartutil"
	"helm.sh/helm/v3/pkg/release"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

// InstallChart installs the chart in dir as `helm install --wait` does,
// with Helm's own library: release name in namespace (which must exist),
// values (YAML over the chart's values.yaml), the cluster admin's
// credentials, release state in a Secret (Helm's default driver). It
// returns when every object is ready (Deployments rolled out) or timeout
// has passed.
func InstallChart(ctx context.Context, t testing.TB, api *APIServer, dir, name, namespace, values string, timeout time.Duration) (*release.Release, error) {
	t.Helper()
	chrt, err := loader.Load(dir)
	if err != nil {
		return nil, fmt.Errorf("load chart %s: %w", dir, err)
	}
	vals, err := chartutil.ReadValues([]byte(values))
	if err != nil {
		return nil, fmt.Errorf("values: %w", err)
	}
	kubeconfig := filepath.Join(t.TempDir(), "helm.kubeconfig")
	if err := WriteKubeconfig(kubeconfig, api.URL, api.CAPEM, &clientcmdapi.AuthInfo{Token: api.AdminToken}); err != nil {
		return nil, err
	}
	getter := genericclioptions.NewConfigFlags(false)
	getter.KubeConfig = &kubeconfig
	getter.Namespace = &namespace
	cfg := new(action.Configuration)
	if err := cfg.Init(getter, namespace, "secret", func(format string, v ...any) { t.Logf("helm: "+format, v...) }); err != nil {
		return nil, fmt.Errorf("helm configuration: %w", err)
	}
	caps, err := capabilities(getter)
	if err != nil {
		return nil, err
	}
	cfg.Capabilities = caps
	install := action.NewInstall(cfg)
	install.ReleaseName = name
	install.Namespace = namespace
	install.Wait = true
	install.Timeout = timeout
	rel, err := install.RunWithContext(ctx, chrt, vals)
	if err != nil {
		return nil, fmt.Errorf("helm install %s %s -n %s: %w", name, dir, namespace, err)
	}
	return rel, nil
}

// capabilities are what Helm asks the API server (its API versions and
// version), except that a kube-apiserver built from the module without the
// version stamp (e2e/hack/build-bins.sh's, which reports
// "v0.0.0-master+$Format:%H$") counts as KubeVersion, the version it was
// built from, so charts' kubeVersion constraints are checked against that.
func capabilities(getter *genericclioptions.ConfigFlags) (*chartutil.Capabilities, error) {
	dc, err := getter.ToDiscoveryClient()
	if err != nil {
		return nil, fmt.Errorf("discovery client: %w", err)
	}
	v, err := dc.ServerVersion()
	if err != nil {
		return nil, fmt.Errorf("server version: %w", err)
	}
	apiVersions, err := action.GetVersionSet(dc)
	if err != nil {
		return nil, fmt.Errorf("server API versions: %w", err)
	}
	kv := chartutil.KubeVersion{Version: v.GitVersion, Major: v.Major, Minor: v.Minor}
	if strings.HasPrefix(v.GitVersion, "v0.0.0-") {
		kv = chartutil.KubeVersion{Version: KubeVersion, Major: "1", Minor: strings.Split(KubeVersion, ".")[1]}
	}
	return &chartutil.Capabilities{APIVersions: apiVersions, KubeVersion: kv, HelmVersion: chartutil.DefaultCapabilities.HelmVersion}, nil
}
