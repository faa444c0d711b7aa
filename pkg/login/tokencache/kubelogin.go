package tokencache

import (
	"crypto/sha256"
	"encoding/gob"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"

	"github.com/zalando/go-keyring"
)

// kubelogin (int128/kubelogin v1.34.0) keeps one entry per key: the JSON
// {"id_token":...,"refresh_token":...}, in the file <dir>/<checksum> or
// in the OS keyring as service "kubelogin", item
// "kubelogin/tokencache/<checksum>". The checksum is the hex SHA-256 of the
// gob encoding of its tokencache.Key.
const (
	KubeloginKeyringService = "kubelogin"
	kubeloginKeyringPrefix  = "kubelogin/tokencache/"
)

// KubeloginKey is the content of kubelogin's token cache key
// (pkg/tokencache.Key: oidc.Provider, tlsclientconfig.Config, Username),
// with kubelogin's values: paths as kubelogin expanded them, PKCEMethod
// 0 auto, 1 no, 2 S256, Renegotiation a crypto/tls.RenegotiationSupport, and
// Username only for the password grant.
type KubeloginKey struct {
	IssuerURL      string
	ClientID       string
	ClientSecret   string
	ExtraScopes    []string
	RedirectURL    string
	PKCEMethod     int
	UseAccessToken bool
	RequestHeaders map[string]string
	CACertFilename []string
	CACertData     []string
	SkipTLSVerify  bool
	Renegotiation  int
	Username       string
}

// kubeloginMaxEncodings bounds how many gob encodings Checksums tries: gob
// writes a map in Go's random iteration order, so kubelogin gives a key
// with several request headers one of several checksums.
const kubeloginMaxEncodings = 256

// Checksums returns the file names kubelogin may have used for the key:
// one, or with two or more request headers, one per header order seen in
// up to kubeloginMaxEncodings encodings.
func (k KubeloginKey) Checksums() ([]string, error) {
	// The gob type names and field names and order are kubelogin's; gob
	// encodes named integer types (oidc.PKCEMethod, tls.RenegotiationSupport)
	// as plain integers.
	type Provider struct {
		IssuerURL      string
		ClientID       string
		ClientSecret   string
		ExtraScopes    []string
		RedirectURL    string
		PKCEMethod     int
		UseAccessToken bool
		RequestHeaders map[string]string
	}
	type Config struct {
		CACertFilename []string
		CACertData     []string
		SkipTLSVerify  bool
		Renegotiation  int
	}
	type Key struct {
		Provider        Provider
		TLSClientConfig Config
		Username        string
	}
	key := Key{
		Provider: Provider{
			IssuerURL: k.IssuerURL, ClientID: k.ClientID, ClientSecret: k.ClientSecret,
			ExtraScopes: k.ExtraScopes, RedirectURL: k.RedirectURL, PKCEMethod: k.PKCEMethod,
			UseAccessToken: k.UseAccessToken, RequestHeaders: k.RequestHeaders,
		},
		TLSClientConfig: Config{
			CACertFilename: k.CACertFilename, CACertData: k.CACertData,
			SkipTLSVerify: k.SkipTLSVerify, Renegotiation: k.Renegotiation,
		},
		Username: k.Username,
	}
	tries := 1
	if len(k.RequestHeaders) > 1 {
		tries = kubeloginMaxEncodings
	}
	var out []string
	seen := map[string]bool{}
	for range tries {
		h := sha256.New()
		if err := gob.NewEncoder(h).Encode(&key); err != nil {
			return nil, fmt.Errorf("kubelogin cache key: %w", err)
		}
		sum := hex.EncodeToString(h.Sum(nil))
		if !seen[sum] {
			seen[sum] = true
			out = append(out, sum)
		}
	}
	return out, nil
}

// KubeloginDefaultDir is kubelogin's default --token-cache-dir:
// $KUBECACHEDIR/oidc-login when KUBECACHEDIR is set, else
// HOME/.kube/cache/oidc-login.
func KubeloginDefaultDir(getenv func(string) string, home string) string {
	if d := getenv("KUBECACHEDIR"); d != "" {
		return filepath.Join(d, "oidc-login")
	}
	return filepath.Join(home, ".kube", "cache", "oidc-login")
}

// kubeloginEntry is kubelogin's stored JSON.
type kubeloginEntry struct {
	IDToken      string `json:"id_token,omitempty"`
	RefreshToken string `json:"refresh_token,omitempty"`
}

// LoadKubelogin reads kubelogin's entry for key from its disk cache in dir
// or, with fromKeyring, from the OS keyring. It returns the ID token
// (kubelogin's "id_token", which holds the access token when kubelogin ran
// with --oidc-use-access-token) and the refresh token, where the entry was
// found, ErrNotFound, or an error wrapping ErrCorrupt that never quotes the
// entry. The caller checks the tokens' claims.
func LoadKubelogin(dir string, fromKeyring bool, key KubeloginKey) (idToken, refreshToken, where string, err error) {
	sums, err := key.Checksums()
	if err != nil {
		return "", "", "", err
	}
	for _, sum := range sums {
		var data []byte
		if fromKeyring {
			where = "kubelogin keyring item " + kubeloginKeyringPrefix + sum
			s, kerr := keyring.Get(KubeloginKeyringService, kubeloginKeyringPrefix+sum)
			if errors.Is(kerr, keyring.ErrNotFound) {
				continue
			}
			if kerr != nil {
				return "", "", where, fmt.Errorf("%s: %w", where, kerr)
			}
			if len(s) > maxRecordSize {
				return "", "", where, corrupt(where, fmt.Errorf("larger than %d bytes", maxRecordSize))
			}
			data = []byte(s)
		} else {
			where = filepath.Join(dir, sum)
			var rerr error
			data, rerr = readCacheFile(where)
			if errors.Is(rerr, fs.ErrNotExist) {
				continue
			}
			if rerr != nil {
				return "", "", where, corrupt(where, rerr)
			}
		}
		var e kubeloginEntry
		if err := json.Unmarshal(data, &e); err != nil {
			return "", "", where, corrupt(where, describeJSONError(err))
		}
		if e.IDToken == "" && e.RefreshToken == "" {
			return "", "", where, corrupt(where, errNoTokens)
		}
		return e.IDToken, e.RefreshToken, where, nil
	}
	return "", "", "", ErrNotFound
}
