package tokencache

import (
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// recordVersion is the version of the stored JSON format.
const recordVersion = 1

// maxRecordSize bounds what Load reads: tokens are a few KiB, anything far
// larger is not ours.
const maxRecordSize = 1 << 20

// record is the stored form of an Entry, on disk and in the keyring.
type record struct {
	Version      int       `json:"version"`
	KeyID        string    `json:"keyID"`
	IssuerURL    string    `json:"issuerURL,omitempty"`
	ClientID     string    `json:"clientID,omitempty"`
	IDToken      string    `json:"idToken,omitempty"`
	AccessToken  string    `json:"accessToken,omitempty"`
	RefreshToken string    `json:"refreshToken,omitempty"`
	TokenType    string    `json:"tokenType,omitempty"`
	Expiry       time.Time `json:"expiry,omitzero"`
	Audiences    []string  `json:"audiences,omitempty"`
	Resources    []string  `json:"resources,omitempty"`
}

var errNoTokens = errors.New("entry holds no token")

func encodeRecord(id string, e Entry) ([]byte, error) {
	if e.empty() {
		return nil, fmt.Errorf("save token cache entry: %w", errNoTokens)
	}
	return json.Marshal(record{
		Version:      recordVersion,
		KeyID:        id,
		IssuerURL:    e.IssuerURL,
		ClientID:     e.ClientID,
		IDToken:      e.IDToken,
		AccessToken:  e.AccessToken,
		RefreshToken: e.RefreshToken,
		TokenType:    e.TokenType,
		Expiry:       e.Expiry,
		Audiences:    e.Audiences,
		Resources:    e.Resources,
	})
}

// decodeRecord parses data stored for the key wantID. Its error says what is
// wrong without quoting the data, which holds secrets.
func decodeRecord(data []byte, wantID string) (Entry, error) {
	if len(data) == 0 {
		return Entry{}, errors.New("empty")
	}
	var r record
	if err := json.Unmarshal(data, &r); err != nil {
		return Entry{}, describeJSONError(err)
	}
	switch {
	case r.Version != recordVersion:
		return Entry{}, fmt.Errorf("unsupported format version %d (want %d)", r.Version, recordVersion)
	case r.KeyID != wantID:
		return Entry{}, errors.New("entry belongs to a different key")
	}
	e := Entry{
		IDToken:      r.IDToken,
		AccessToken:  r.AccessToken,
		RefreshToken: r.RefreshToken,
		TokenType:    r.TokenType,
		Expiry:       r.Expiry,
		IssuerURL:    r.IssuerURL,
		ClientID:     r.ClientID,
		Audiences:    r.Audiences,
		Resources:    r.Resources,
	}
	if e.empty() {
		return Entry{}, errNoTokens
	}
	return e, nil
}

// describeJSONError turns a JSON error into one that never quotes the input
// (json.SyntaxError's message includes the offending character).
func describeJSONError(err error) error {
	var syntax *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(err, &syntax) && syntax.Error() == "unexpected end of JSON input":
		return errors.New("truncated JSON")
	case errors.As(err, &syntax):
		return fmt.Errorf("invalid JSON at byte %d", syntax.Offset)
	case errors.As(err, &typ):
		return fmt.Errorf("field %q has the wrong type", typ.Field)
	default:
		return errors.New("invalid JSON")
	}
}

func corrupt(where string, reason error) error {
	return fmt.Errorf("%s: %w (%v)", where, ErrCorrupt, reason)
}
