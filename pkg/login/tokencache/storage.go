package tokencache

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"
)

// Entry is what is cached. No secrets ever appear in errors or logs.
type Entry struct {
	IDToken      string
	AccessToken  string
	RefreshToken string
	TokenType    string
	// Expiry is the expiry of the token handed to kubectl.
	Expiry time.Time
	// IssuerURL and ClientID are kept for display and logout; not secret.
	IssuerURL string
	ClientID  string
	// Audiences are the cluster audiences the session's refresh token was
	// granted at login (Dex cross-client scopes): a refresh may narrow the
	// ID token to any one of them without a new login.
	Audiences []string
	// Resources are the resource indicators (RFC 8707) the session's
	// refresh token was granted at login: a refresh may ask for an access
	// token of any one of them without a new login.
	Resources []string
}

func (e Entry) empty() bool {
	return e.IDToken == "" && e.AccessToken == "" && e.RefreshToken == ""
}

var (
	// ErrNotFound means nothing is cached for the key.
	ErrNotFound = errors.New("no cached token")
	// ErrCorrupt wraps a damaged entry; callers warn and treat it as a miss.
	ErrCorrupt = errors.New("token cache entry is corrupt")
)

// Storage keeps Entries by Key.
type Storage interface {
	// Load returns the entry for key, ErrNotFound, or an error wrapping ErrCorrupt.
	Load(ctx context.Context, key Key) (Entry, error)
	// Save replaces the entry for key.
	Save(ctx context.Context, key Key, e Entry) error
	// Delete removes the entry for key; no error when absent.
	Delete(ctx context.Context, key Key) error
	// DeleteAll removes every entry and returns the ones it could read, so
	// the caller can revoke their refresh tokens.
	DeleteAll(ctx context.Context) ([]Entry, error)
	// Name is "disk", "keyring" or "none", for messages.
	Name() string
}

// Storage kinds accepted by New (--token-cache-storage).
const (
	KindAuto    = "auto"
	KindKeyring = "keyring"
	KindDisk    = "disk"
	KindNone    = "none"
)

// KeyringService is the service name under which tokens are kept in the OS keyring.
const KeyringService = "kube-oidc"

// probeTimeout bounds the keyring probe of KindAuto: a keyring that does not
// answer within it counts as absent.
const probeTimeout = 2 * time.Second

// New returns the storage for --token-cache-storage: auto (or ""), keyring,
// disk or none. dir is the --token-cache-dir ("" means DefaultDir). auto
// uses the OS keyring when one answers a cheap probe, else disk. The keyring
// storage falls back to disk, with one warning line written to warn, when
// the keyring refuses an entry (missing service, size limit).
func New(ctx context.Context, kind, dir string, warn io.Writer) (Storage, error) {
	if dir == "" && kind != KindNone {
		d, err := DefaultDir()
		if err != nil {
			return nil, err
		}
		dir = d
	}
	switch kind {
	case KindAuto, "":
		if probeKeyring(ctx, KeyringService) {
			return NewKeyring(KeyringService, dir, warn), nil
		}
		return NewDisk(dir), nil
	case KindKeyring:
		return NewKeyring(KeyringService, dir, warn), nil
	case KindDisk:
		return NewDisk(dir), nil
	case KindNone:
		return NewNone(), nil
	default:
		return nil, fmt.Errorf("unknown token cache storage %q: use one of auto, keyring, disk, none", kind)
	}
}

// DefaultDir is the default --token-cache-dir: $KUBECACHEDIR/oidc when
// KUBECACHEDIR is set (as kubectl uses it), else ~/.kube/cache/oidc.
func DefaultDir() (string, error) {
	if d := os.Getenv("KUBECACHEDIR"); d != "" {
		return filepath.Join(d, "oidc"), nil
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return "", fmt.Errorf("token cache directory: %w; set --token-cache-dir or KUBECACHEDIR", err)
	}
	return filepath.Join(home, ".kube", "cache", "oidc"), nil
}

// none caches nothing.
type none struct{}

// NewNone returns a Storage that caches nothing: every Load is ErrNotFound.
func NewNone() Storage { return none{} }

func (none) Load(context.Context, Key) (Entry, error)   { return Entry{}, ErrNotFound }
func (none) Save(context.Context, Key, Entry) error     { return nil }
func (none) Delete(context.Context, Key) error          { return nil }
func (none) DeleteAll(context.Context) ([]Entry, error) { return nil, nil }
func (none) Name() string                               { return KindNone }
