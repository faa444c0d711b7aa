package identity

import (
	"errors"
	"strings"
	"testing"

	"k8s.io/apiserver/pkg/authentication/user"
)

func TestProblem(t *testing.T) {
	tests := []struct {
		value string
		want  string // "" when canonical
	}{
		{"alice@example.com", ""},
		{"system:masters", ""},
		{"Jane Doe", ""}, // inner spaces survive HTTP
		{"jürgen", ""},   // UTF-8 survives HTTP
		{"名前", ""},       // so do other scripts
		{"a\u200bb", ""}, // a zero-width space is not white space
		{" system:masters", "starts with white space"},
		{"\tsystem:nodes", "contains the control character U+0009"},
		{"admin ", "ends with white space"},
		{"admin\t", "contains the control character U+0009"},
		{"", "is empty"},
		{" ", "starts with white space"},
		{"a\x00b", "contains the control character U+0000"},
		{"a\r\nImpersonate-Group: system:masters", "contains the control character U+000D"},
		{"a\nb", "contains the control character U+000A"},
		{"a\x7fb", "contains the control character U+007F"},
		{"a\u0085b", "contains the control character U+0085"}, // NEL, a C1 control
		{"\u00a0admin", "starts with white space"},            // no-break space
		{"admin\u3000", "ends with white space"},              // ideographic space
		{"\u2028x", "starts with white space"},                // line separator
		{"x\u2029", "ends with white space"},                  // paragraph separator
		{"\xffadmin", "is not valid UTF-8"},
		{"admin\xc3", "is not valid UTF-8"},
		{"\xed\xa0\x80", "is not valid UTF-8"}, // a surrogate
	}
	for _, tt := range tests {
		if got := Problem(tt.value); got != tt.want {
			t.Errorf("Problem(%q) = %q, want %q", tt.value, got, tt.want)
		}
	}
}

func TestKeyProblem(t *testing.T) {
	tests := []struct{ key, want string }{
		{"scopes", ""},
		{"acme.io/team", ""},
		{"authentication.kubernetes.io/credential-id", ""},
		{"Scopes", "is not lower case"},
		{"originaluser.jetstack.io-User", "is not lower case"},
		{"équipe", ""},
		{"Équipe", "is not lower case"},
		{" scopes", "starts with white space"},
		{"", "is empty"},
	}
	for _, tt := range tests {
		if got := KeyProblem(tt.key); got != tt.want {
			t.Errorf("KeyProblem(%q) = %q, want %q", tt.key, got, tt.want)
		}
	}
}

func TestCanonicalExtraKey(t *testing.T) {
	tests := []struct {
		encoded, want, problem string
	}{
		{encoded: "scopes", want: "scopes"},
		{encoded: "Scopes", want: "scopes"},
		{encoded: "Scope%53", want: "scopes"},
		{encoded: "%4friginaluser.jetstack.io-User", want: "originaluser.jetstack.io-user"},
		{encoded: "%52emote-Client-Ip", want: "remote-client-ip"},
		{encoded: "Acme.io%2fteam", want: "acme.io/team"},
		{encoded: "%C3%89quipe", want: "équipe"},
		{encoded: "%20scopes", problem: "starts with white space"},
		{encoded: "scopes%09", problem: "contains the control character U+0009"},
		{encoded: "%ff", problem: "is not valid UTF-8"},
		{encoded: "%zz", problem: "is not valid percent-encoding"},
		{encoded: "", problem: "is empty"},
	}
	for _, tt := range tests {
		got, err := CanonicalExtraKey(tt.encoded)
		if tt.problem != "" {
			var ie *Error
			if !errors.As(err, &ie) || ie.Field != ExtraKey || ie.Problem != tt.problem {
				t.Errorf("CanonicalExtraKey(%q) = %q, %v; want the problem %q", tt.encoded, got, err, tt.problem)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("CanonicalExtraKey(%q) = %q, %v; want %q", tt.encoded, got, err, tt.want)
		}
	}
}

func TestCheckUser(t *testing.T) {
	tests := []struct {
		name string
		user user.DefaultInfo
		want string // the error message, "" when valid
	}{
		{"valid", user.DefaultInfo{Name: "alice", UID: "1", Groups: []string{"dev"}, Extra: map[string][]string{"scopes": {"a"}}}, ""},
		{"no uid is fine", user.DefaultInfo{Name: "alice"}, ""},
		{"empty username", user.DefaultInfo{}, `username "" is empty`},
		{"padded username", user.DefaultInfo{Name: " system:masters"}, `username " system:masters" starts with white space`},
		{"padded uid", user.DefaultInfo{Name: "a", UID: "1 "}, `uid "1 " ends with white space`},
		{"tab group", user.DefaultInfo{Name: "a", Groups: []string{"dev", "\tsystem:nodes"}}, `group "\tsystem:nodes" contains the control character U+0009`},
		{"upper-case extra key", user.DefaultInfo{Name: "a", Extra: map[string][]string{"Scopes": {"x"}}}, `extra key "Scopes" is not lower case`},
		{"padded extra value", user.DefaultInfo{Name: "a", Extra: map[string][]string{"scopes": {"x", " y"}}}, `extra value of "scopes" " y" starts with white space`},
		{"first bad key in sorted order", user.DefaultInfo{Name: "a", Extra: map[string][]string{"b": {" "}, "a": {" "}}}, `extra value of "a" " " starts with white space`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := CheckUser(&tt.user)
			if tt.want == "" {
				if err != nil {
					t.Fatalf("CheckUser = %v, want nil", err)
				}
				return
			}
			var ie *Error
			if !errors.As(err, &ie) || err.Error() != tt.want {
				t.Fatalf("CheckUser = %v, want %s", err, tt.want)
			}
		})
	}
}

func TestQuoteTruncates(t *testing.T) {
	q := Quote(strings.Repeat("a", 1000))
	if len(q) > maxQuoted+10 || !strings.HasSuffix(q, `"...`) {
		t.Fatalf("Quote = %s", q)
	}
}

// BenchmarkCheckUser is the per-request cost of the outbound check for a
// typical identity (username, uid, three groups, one extra).
func BenchmarkCheckUser(b *testing.B) {
	u := &user.DefaultInfo{Name: "alice@example.com", UID: "a-1", Groups: []string{"dev", "ops", "system:authenticated"},
		Extra: map[string][]string{"authentication.kubernetes.io/credential-id": {"JTI=0123456789"}}}
	b.ReportAllocs()
	for b.Loop() {
		if err := CheckUser(u); err != nil {
			b.Fatal(err)
		}
	}
}

// FuzzHeaderKeyProblem holds the allocation-free HeaderKeyProblem equal to
// KeyProblem of kube-apiserver's decoding (strings.ToLower, then
// url.PathUnescape).
func FuzzHeaderKeyProblem(f *testing.F) {
	for _, s := range []string{"Scopes", "Scope%53", "Acme.io%2fteam", "Authentication.kubernetes.io%2fcredential-Id",
		"%20a", "a%20", "%zz", "a%2", "%C3%89quipe", "%c3%a9", "%00", "%7F", "a+b", "%25", "", "%e2%80%a8"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, encoded string) {
		if got, want := HeaderKeyProblem(encoded), KeyProblem(kubeDecodeKey(encoded)); got != want {
			t.Fatalf("HeaderKeyProblem(%q) = %q, KeyProblem of the decoded key %q = %q", encoded, got, kubeDecodeKey(encoded), want)
		}
	})
}

func BenchmarkHeaderKeyProblem(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		if p := HeaderKeyProblem("Authentication.kubernetes.io%2fcredential-Id"); p != "" {
			b.Fatal(p)
		}
	}
}
