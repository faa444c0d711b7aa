package harness

import (
	"fmt"
	"maps"
	"path/filepath"
	"slices"
	"strings"

	"helm.sh/helm/v3/pkg/chart/loader"
	"helm.sh/helm/v3/pkg/chartutil"
	"helm.sh/helm/v3/pkg/engine"
	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/kyaml/filesys"
)

// Shipped deployment forms, relative to the repository root.
const (
	KustomizeDir = "deploy/kustomize"
	ChartDir     = "deploy/charts/oidc-proxy"
)

// ShippedPath is a path of the checkout (e.g. KustomizeDir).
func ShippedPath(rel string) (string, error) {
	root, err := RepoRoot()
	if err != nil {
		return "", err
	}
	return filepath.Join(root, filepath.FromSlash(rel)), nil
}

// RenderKustomize builds a kustomization directory as `kubectl kustomize` does.
func RenderKustomize(dir string) ([]byte, error) {
	m, err := krusty.MakeKustomizer(krusty.MakeDefaultOptions()).Run(filesys.MakeFsOnDisk(), dir)
	if err != nil {
		return nil, fmt.Errorf("kustomize %s: %w", dir, err)
	}
	out, err := m.AsYaml()
	if err != nil {
		return nil, fmt.Errorf("kustomize %s: %w", dir, err)
	}
	return out, nil
}

// RenderChart renders the chart in dir for release name in namespace with
// values (YAML, merged over the chart's values.yaml) the way `helm template`
// does: values checked against values.schema.json, templates executed,
// manifests joined in a stable order (NOTES.txt left out).
func RenderChart(dir, name, namespace, values string) ([]byte, error) {
	chrt, err := loader.Load(dir)
	if err != nil {
		return nil, fmt.Errorf("load chart %s: %w", dir, err)
	}
	vals, err := chartutil.ReadValues([]byte(values))
	if err != nil {
		return nil, fmt.Errorf("values: %w", err)
	}
	caps := chartutil.DefaultCapabilities.Copy()
	caps.KubeVersion = chartutil.KubeVersion{Version: KubeVersion, Major: "1", Minor: strings.Split(KubeVersion, ".")[1]}
	rv, err := chartutil.ToRenderValues(chrt, vals, chartutil.ReleaseOptions{Name: name, Namespace: namespace, IsInstall: true, Revision: 1}, caps)
	if err != nil {
		return nil, err
	}
	files, err := engine.Render(chrt, rv)
	if err != nil {
		return nil, err
	}
	var b strings.Builder
	for _, n := range slices.Sorted(maps.Keys(files)) {
		body := strings.TrimSpace(files[n])
		if strings.HasSuffix(n, "NOTES.txt") || body == "" {
			continue
		}
		fmt.Fprintf(&b, "---\n# Source: %s\n%s\n", n, body)
	}
	return []byte(b.String()), nil
}
