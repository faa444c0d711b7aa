package kubeconfig

import (
	"context"
	"fmt"
	"os"
)

// ConvertOptions drive ConvertFiles.
type ConvertOptions struct {
	// Paths are the kubeconfig files to convert (see Files); missing ones are skipped.
	Paths []string
	// ExtraArgs are appended to every converted user's get-token flags.
	ExtraArgs []string
	// DryRun computes the diff of each file and writes nothing, not even the token cache.
	DryRun bool
	// Mover saves the tokens (pkg/kubeconfig/legacytokens); required
	// unless DryRun.
	Mover TokenMover
	// KubeloginDefaultDir is kubelogin's default token cache directory
	// (tokencache.KubeloginDefaultDir), written into converted kubelogin
	// users when ExtraArgs move their token cache.
	KubeloginDefaultDir string
	// StoreSecret, when set, moves the converted users' client secrets and
	// passwords into OS keyring items (SecretsToKeyring; not called for a
	// DryRun, whose diff still shows the items named).
	StoreSecret func(item, secret string) error
}

// TokenMover saves a converted user's stored tokens where get-token will
// find them, and reports whether there were any.
type TokenMover interface {
	Move(ctx context.Context, c Converted) (bool, error)
}

// FileReport is what ConvertFiles did to one file.
type FileReport struct {
	Path      string
	Converted []Converted
	Skipped   []Skipped
	// TokensMoved names the users whose tokens went into the cache.
	TokensMoved []string
	// Diff is the redacted unified diff (DryRun only).
	Diff string
	// Written is true when the file was rewritten.
	Written bool
}

// ConvertFiles converts the auth-provider oidc users of every file. All
// files are read and parsed before anything is changed, so a malformed one
// stops the run with nothing lost. For each file the tokens are saved in
// the cache before the file is rewritten, so a failure never loses a
// refresh token.
func ConvertFiles(ctx context.Context, o ConvertOptions) ([]FileReport, error) {
	if !o.DryRun && o.Mover == nil {
		return nil, fmt.Errorf("convert: no token cache")
	}
	files := make([]*File, 0, len(o.Paths))
	if !o.DryRun {
		for _, p := range o.Paths {
			if _, err := os.Stat(p); err != nil {
				continue // missing files are skipped; Read reports other problems
			}
			unlock, err := lock(p)
			if err != nil {
				return nil, err
			}
			defer unlock()
		}
	}
	for _, p := range o.Paths {
		f, err := Read(p)
		if err != nil {
			return nil, err
		}
		if f.Exists {
			files = append(files, f)
		}
	}
	var reports []FileReport
	for _, f := range files {
		before := f.Config.DeepCopy()
		rep := FileReport{Path: f.Path}
		rep.Converted, rep.Skipped = Convert(f.Config, o.ExtraArgs, o.KubeloginDefaultDir)
		if len(rep.Converted) == 0 {
			reports = append(reports, rep)
			continue
		}
		if o.StoreSecret != nil {
			store := o.StoreSecret
			if o.DryRun {
				store = func(string, string) error { return nil }
			}
			for _, c := range rep.Converted {
				if err := SecretsToKeyring(f.Config.AuthInfos[c.Legacy.UserName].Exec, store); err != nil {
					return reports, fmt.Errorf("user %q: %w (kubeconfig %s not changed)", c.Legacy.UserName, err, f.Path)
				}
			}
		}
		if o.DryRun {
			d, err := Diff(f.Path, before, f.Config)
			if err != nil {
				return reports, err
			}
			rep.Diff = d
			reports = append(reports, rep)
			continue
		}
		for _, c := range rep.Converted {
			moved, err := o.Mover.Move(ctx, c)
			if err != nil {
				return reports, fmt.Errorf("%w (kubeconfig %s not changed)", err, f.Path)
			}
			if moved {
				rep.TokensMoved = append(rep.TokensMoved, c.Legacy.UserName)
			}
		}
		written, err := f.Write()
		if err != nil {
			return reports, err
		}
		rep.Written = written
		reports = append(reports, rep)
	}
	return reports, nil
}
