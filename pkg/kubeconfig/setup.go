package kubeconfig

import (
	"fmt"

	"sigs.k8s.io/yaml"
)

// SetupOptions says where and how setup writes its entries.
type SetupOptions struct {
	// Path is the kubeconfig to change (see Target).
	Path    string
	Entries Entries
	// Overwrite replaces entries of the same name with other content.
	Overwrite bool
	// DryRun returns the resulting file in Output instead of writing it.
	DryRun bool
	// Output is the dry-run format: "yaml" (default) or "json".
	Output string
}

// SetupResult reports what Setup did.
type SetupResult struct {
	Path string
	// Changed is false when the file already held the entries (nothing written).
	Changed bool
	// Output is the resulting kubeconfig with DryRun, else nil.
	Output []byte
}

// Setup merges the entries into the kubeconfig at o.Path and writes it
// (atomically, keeping its mode), or with DryRun returns what it would
// write. On any error the file is left as it was.
func Setup(o SetupOptions) (SetupResult, error) {
	res := SetupResult{Path: o.Path}
	if o.Output != "" && o.Output != "yaml" && o.Output != "json" {
		return res, fmt.Errorf("unknown output format %q: use yaml or json", o.Output)
	}
	if !o.DryRun {
		unlock, err := lock(o.Path)
		if err != nil {
			return res, err
		}
		defer unlock()
	}
	f, err := Read(o.Path)
	if err != nil {
		return res, err
	}
	changed, err := Merge(f.Config, o.Path, o.Entries, o.Overwrite)
	if err != nil {
		return res, err
	}
	if o.DryRun {
		out, err := f.Encode()
		if err != nil {
			return res, err
		}
		if o.Output == "json" {
			if out, err = yaml.YAMLToJSON(out); err != nil {
				return res, fmt.Errorf("encode kubeconfig as JSON: %w", err)
			}
		}
		res.Changed = changed
		res.Output = out
		return res, nil
	}
	if !changed && f.Exists {
		return res, nil
	}
	res.Changed, err = f.Write()
	return res, err
}
