// Package identity validates and canonicalises the values that name a
// Kubernetes identity (username, uid, groups, extra keys and values), so
// that the value the proxy checks is exactly the value kube-apiserver reads
// once the request has crossed HTTP/1.1 or HTTP/2.
//
// A value is canonical when it is valid UTF-8, not empty, neither starts nor
// ends with Unicode white space and contains no control character. HTTP/1.1
// trims white space around header values (Go's client writes them trimmed,
// its server reads them trimmed), refuses or rewrites control characters,
// and HTTP/2 carries the padding unchanged: a non-canonical value can be
// authorised in one form and used in another, so it is refused, never
// repaired. Extra keys are also lower case: kube-apiserver lower-cases the
// header name, so a key is compared in the form it will have upstream.
package identity

import (
	"fmt"
	"net/url"
	"strings"
	"unicode"
	"unicode/utf8"

	"k8s.io/apiserver/pkg/authentication/user"
)

// Field names the part of an identity a value belongs to.
type Field string

// The fields of an identity.
const (
	Username   Field = "username"
	UID        Field = "uid"
	Group      Field = "group"
	ExtraKey   Field = "extra key"
	ExtraValue Field = "extra value"
)

// Error is a non-canonical identity value.
type Error struct {
	Field Field
	// Key is the extra key of an ExtraValue.
	Key string
	// Value is the refused value as given.
	Value string
	// Problem says what is wrong, e.g. "starts with white space".
	Problem string
}

func (e *Error) Error() string {
	if e.Field == ExtraValue {
		return fmt.Sprintf("%s of %q %s %s", e.Field, e.Key, Quote(e.Value), e.Problem)
	}
	return fmt.Sprintf("%s %s %s", e.Field, Quote(e.Value), e.Problem)
}

// maxQuoted bounds how much of a refused value an error message shows.
const maxQuoted = 128

// Quote shows v in a message or log line: Go-quoted (control characters and
// invalid UTF-8 escaped) and truncated.
func Quote(v string) string {
	if len(v) > maxQuoted {
		return fmt.Sprintf("%q...", v[:maxQuoted])
	}
	return fmt.Sprintf("%q", v)
}

// Problem says why v is not a canonical identity value, or "" when it is.
func Problem(v string) string {
	if v == "" {
		return "is empty"
	}
	// Fast path: printable ASCII with no space at either end.
	ascii := true
	for i := 0; i < len(v); i++ {
		b := v[i]
		if b >= utf8.RuneSelf {
			ascii = false
			break
		}
		if b < 0x20 || b == 0x7f {
			return fmt.Sprintf("contains the control character %U", rune(b))
		}
	}
	if ascii {
		if v[0] == ' ' {
			return "starts with white space"
		}
		if v[len(v)-1] == ' ' {
			return "ends with white space"
		}
		return ""
	}
	if !utf8.ValidString(v) {
		return "is not valid UTF-8"
	}
	for _, r := range v {
		if unicode.IsControl(r) {
			return fmt.Sprintf("contains the control character %U", r)
		}
	}
	if first, _ := utf8.DecodeRuneInString(v); unicode.IsSpace(first) {
		return "starts with white space"
	}
	if last, _ := utf8.DecodeLastRuneInString(v); unicode.IsSpace(last) {
		return "ends with white space"
	}
	return ""
}

// KeyProblem says why k is not a canonical extra key, or "" when it is: a
// canonical value that is also lower case.
func KeyProblem(k string) string {
	if p := Problem(k); p != "" {
		return p
	}
	if strings.ToLower(k) != k {
		return "is not lower case"
	}
	return ""
}

// Check returns an *Error when v is not a canonical value of field f.
func Check(f Field, v string) error {
	if p := Problem(v); p != "" {
		return &Error{Field: f, Value: v, Problem: p}
	}
	return nil
}

// CheckExtra returns an *Error when key or one of its values is not
// canonical.
func CheckExtra(key string, values []string) error {
	if p := KeyProblem(key); p != "" {
		return &Error{Field: ExtraKey, Value: key, Problem: p}
	}
	for _, v := range values {
		if p := Problem(v); p != "" {
			return &Error{Field: ExtraValue, Key: key, Value: v, Problem: p}
		}
	}
	return nil
}

// CheckUser returns an *Error for the first non-canonical value of u: its
// username (required), its uid (when set), its groups, its extra keys and
// values (keys in sorted order, so the answer does not depend on map order).
func CheckUser(u user.Info) error {
	if err := Check(Username, u.GetName()); err != nil {
		return err
	}
	if uid := u.GetUID(); uid != "" {
		if err := Check(UID, uid); err != nil {
			return err
		}
	}
	for _, g := range u.GetGroups() {
		if err := Check(Group, g); err != nil {
			return err
		}
	}
	extra := u.GetExtra()
	if len(extra) == 0 {
		return nil
	}
	var first error
	var firstKey string
	for k, v := range extra {
		if err := CheckExtra(k, v); err != nil && (first == nil || k < firstKey) {
			first, firstKey = err, k
		}
	}
	return first
}

// CanonicalExtraKey turns the part of an Impersonate-Extra-<key> header
// name after the prefix into the key it names: percent-decoded, then
// lower-cased. A key that does not decode, or that is not canonical once
// decoded, is an *Error.
func CanonicalExtraKey(encoded string) (string, error) {
	decoded, err := url.PathUnescape(encoded)
	if err != nil {
		return "", &Error{Field: ExtraKey, Value: encoded, Problem: "is not valid percent-encoding"}
	}
	// Before lower-casing: strings.ToLower replaces invalid UTF-8.
	if p := Problem(decoded); p != "" {
		return "", &Error{Field: ExtraKey, Value: decoded, Problem: p}
	}
	return strings.ToLower(decoded), nil
}

// HeaderKeyProblem says why the key that kube-apiserver decodes from an
// Impersonate-Extra-<encoded> header name (lower-cased, then
// percent-decoded, falling back to the lower-cased name when that fails) is
// not canonical, or "" when it is: KeyProblem of that key. An ASCII key is
// checked without allocating.
func HeaderKeyProblem(encoded string) string {
	if encoded == "" {
		return "is empty"
	}
	// One invalid escape anywhere and nothing is decoded.
	for i := 0; i < len(encoded); i++ {
		if encoded[i] == '%' {
			if i+2 >= len(encoded) || !isHex(encoded[i+1]) || !isHex(encoded[i+2]) {
				return KeyProblem(kubeDecodeKey(encoded))
			}
			i += 2
		}
	}
	n, first, last := 0, byte(0), byte(0)
	for i := 0; i < len(encoded); i++ {
		b := lowerASCII(encoded[i])
		if b == '%' {
			b = unhex(encoded[i+1])<<4 | unhex(encoded[i+2])
			i += 2
		}
		// Non-ASCII keys, and refused ones (for the same message in the
		// same order), take the decoding route.
		if b >= utf8.RuneSelf || b < 0x20 || b == 0x7f || 'A' <= b && b <= 'Z' {
			return KeyProblem(kubeDecodeKey(encoded))
		}
		if n == 0 {
			first = b
		}
		last = b
		n++
	}
	if first == ' ' || last == ' ' {
		return KeyProblem(kubeDecodeKey(encoded))
	}
	return ""
}

// kubeDecodeKey is kube-apiserver's decoding of an extra header name.
func kubeDecodeKey(encoded string) string {
	lower := strings.ToLower(encoded)
	if key, err := url.PathUnescape(lower); err == nil {
		return key
	}
	return lower
}

func lowerASCII(b byte) byte {
	if 'A' <= b && b <= 'Z' {
		return b + 'a' - 'A'
	}
	return b
}

func isHex(b byte) bool {
	return '0' <= b && b <= '9' || 'a' <= b && b <= 'f' || 'A' <= b && b <= 'F'
}

func unhex(b byte) byte {
	switch {
	case '0' <= b && b <= '9':
		return b - '0'
	case 'a' <= b && b <= 'f':
		return b - 'a' + 10
	}
	return b - 'A' + 10
}
