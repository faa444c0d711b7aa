package kubeconfig

import (
	"errors"
	"fmt"
	"sort"
	"strings"

	"k8s.io/apimachinery/pkg/api/equality"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

// Entries are the named cluster, user and context that setup writes.
type Entries struct {
	ClusterName string
	Cluster     *clientcmdapi.Cluster
	UserName    string
	User        *clientcmdapi.AuthInfo
	ContextName string
	Context     *clientcmdapi.Context
	// SetCurrentContext makes ContextName the current context.
	SetCurrentContext bool
}

// ConflictError lists entries that exist with different content.
type ConflictError struct {
	Path  string
	Names []string // e.g. `cluster "prod"`
}

func (e *ConflictError) Error() string {
	return fmt.Sprintf("kubeconfig %s already has %s with different settings; pass --overwrite to replace them, or choose other names with --cluster-name, --user-name, --context-name",
		e.Path, strings.Join(e.Names, ", "))
}

// Validate checks that the entries are complete.
func (e Entries) Validate() error {
	var errs []error
	if e.ClusterName == "" || e.Cluster == nil {
		errs = append(errs, errors.New("cluster name is empty"))
	}
	if e.UserName == "" || e.User == nil {
		errs = append(errs, errors.New("user name is empty"))
	}
	if e.ContextName == "" || e.Context == nil {
		errs = append(errs, errors.New("context name is empty"))
	}
	if e.Cluster != nil && e.Cluster.Server == "" {
		errs = append(errs, errors.New("cluster server URL is empty: pass --server or the proxy URL"))
	}
	return errors.Join(errs...)
}

// Merge puts the entries into cfg and leaves every other entry alone. An
// entry of the same name with the same content is not a conflict (so a
// second run changes nothing); one with different content is replaced only
// with overwrite, else a *ConflictError names each of them and cfg is not
// changed. It reports whether cfg changed.
func Merge(cfg *clientcmdapi.Config, path string, e Entries, overwrite bool) (bool, error) {
	if err := e.Validate(); err != nil {
		return false, fmt.Errorf("kubeconfig entries: %w", err)
	}
	var conflicts []string
	clusterSame, clusterExists := sameCluster(cfg.Clusters[e.ClusterName], e.Cluster)
	if clusterExists && !clusterSame {
		conflicts = append(conflicts, fmt.Sprintf("cluster %q", e.ClusterName))
	}
	userSame, userExists := sameUser(cfg.AuthInfos[e.UserName], e.User)
	if userExists && !userSame {
		conflicts = append(conflicts, fmt.Sprintf("user %q", e.UserName))
	}
	ctxSame, ctxExists := sameContext(cfg.Contexts[e.ContextName], e.Context)
	if ctxExists && !ctxSame {
		conflicts = append(conflicts, fmt.Sprintf("context %q", e.ContextName))
	}
	if len(conflicts) > 0 && !overwrite {
		sort.Strings(conflicts)
		return false, &ConflictError{Path: path, Names: conflicts}
	}
	changed := false
	if !clusterSame {
		c := e.Cluster.DeepCopy()
		c.LocationOfOrigin = path
		cfg.Clusters[e.ClusterName] = c
		changed = true
	}
	if !userSame {
		u := e.User.DeepCopy()
		u.LocationOfOrigin = path
		cfg.AuthInfos[e.UserName] = u
		changed = true
	}
	if !ctxSame {
		c := e.Context.DeepCopy()
		c.LocationOfOrigin = path
		cfg.Contexts[e.ContextName] = c
		changed = true
	}
	if e.SetCurrentContext && cfg.CurrentContext != e.ContextName {
		cfg.CurrentContext = e.ContextName
		changed = true
	}
	return changed, nil
}

// sameX report whether old equals new ignoring where old was loaded from,
// and whether old exists at all.
func sameCluster(old, nw *clientcmdapi.Cluster) (same, exists bool) {
	if old == nil {
		return false, false
	}
	a, b := old.DeepCopy(), nw.DeepCopy()
	a.LocationOfOrigin, b.LocationOfOrigin = "", ""
	return equality.Semantic.DeepEqual(normCluster(a), normCluster(b)), true
}

func normCluster(c *clientcmdapi.Cluster) *clientcmdapi.Cluster {
	if len(c.CertificateAuthorityData) == 0 {
		c.CertificateAuthorityData = nil
	}
	if len(c.Extensions) == 0 {
		c.Extensions = nil
	}
	return c
}

func sameUser(old, nw *clientcmdapi.AuthInfo) (same, exists bool) {
	if old == nil {
		return false, false
	}
	a, b := old.DeepCopy(), nw.DeepCopy()
	a.LocationOfOrigin, b.LocationOfOrigin = "", ""
	return equality.Semantic.DeepEqual(normUser(a), normUser(b)), true
}

func normUser(u *clientcmdapi.AuthInfo) *clientcmdapi.AuthInfo {
	if len(u.Extensions) == 0 {
		u.Extensions = nil
	}
	if u.Exec != nil {
		if len(u.Exec.Env) == 0 {
			u.Exec.Env = nil
		}
		if len(u.Exec.Args) == 0 {
			u.Exec.Args = nil
		}
	}
	return u
}

func sameContext(old, nw *clientcmdapi.Context) (same, exists bool) {
	if old == nil {
		return false, false
	}
	a, b := old.DeepCopy(), nw.DeepCopy()
	a.LocationOfOrigin, b.LocationOfOrigin = "", ""
	if len(a.Extensions) == 0 {
		a.Extensions = nil
	}
	if len(b.Extensions) == 0 {
		b.Extensions = nil
	}
	return equality.Semantic.DeepEqual(a, b), true
}
