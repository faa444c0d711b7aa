package main

import (
	"bytes"
	"fmt"
	"sort"
	"strings"
	"text/template"
)

// renderKrew renders the krew manifest template. The template names each
// archive once per platform with {{ uri "NAME" }} and {{ sha256 "NAME" }};
// {{ .Version }} is the release version. A name that was not built is an
// error, and so is an archive the template leaves out.
func renderKrew(tmpl, version, baseURL string, archives map[string]string) ([]byte, error) {
	used := map[string]bool{}
	lookup := func(name string) (string, error) {
		sum, ok := archives[name]
		if !ok {
			return "", fmt.Errorf("archive %q was not built", name)
		}
		used[name] = true
		return sum, nil
	}
	funcs := template.FuncMap{
		"sha256": lookup,
		"uri": func(name string) (string, error) {
			if _, err := lookup(name); err != nil {
				return "", err
			}
			return baseURL + "/" + name, nil
		},
	}
	t, err := template.New("krew").Funcs(funcs).Option("missingkey=error").Parse(tmpl)
	if err != nil {
		return nil, err
	}
	var out bytes.Buffer
	if err := t.Execute(&out, struct{ Version string }{version}); err != nil {
		return nil, err
	}
	var left []string
	for name := range archives {
		if !used[name] {
			left = append(left, name)
		}
	}
	if len(left) > 0 {
		sort.Strings(left)
		return nil, fmt.Errorf("no platform entry for %s", strings.Join(left, ", "))
	}
	return out.Bytes(), nil
}
