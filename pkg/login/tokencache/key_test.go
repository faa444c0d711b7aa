package tokencache

import (
	"testing"
)

func baseKey() Key {
	return Key{
		IssuerURL:   "https://issuer.example.com",
		ClientID:    "kubernetes",
		Scopes:      []string{"openid", "email", "groups"},
		ExtraParams: map[string]string{"audience": "k8s", "prompt": "login"},
		GrantType:   "authcode",
		Username:    "alice",
		CACertHash:  CAHash([]byte("-----BEGIN CERTIFICATE-----")),
	}
}

func TestKeyIDIsTheSameForEquivalentFlags(t *testing.T) {
	tests := []struct {
		name string
		mod  func(*Key)
	}{
		{"scopes in another order", func(k *Key) { k.Scopes = []string{"groups", "openid", "email"} }},
		{"duplicate scopes", func(k *Key) { k.Scopes = []string{"openid", "email", "groups", "email"} }},
		{"empty scope strings", func(k *Key) { k.Scopes = []string{"", "openid", "email", "", "groups"} }},
		{"extra params built in another order", func(k *Key) {
			m := map[string]string{}
			m["prompt"] = "login"
			m["audience"] = "k8s"
			k.ExtraParams = m
		}},
	}
	want := baseKey().ID()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			k := baseKey()
			tt.mod(&k)
			// Maps iterate in random order: repeat to catch order dependence.
			for range 20 {
				if got := k.ID(); got != want {
					t.Fatalf("ID() = %s, want %s", got, want)
				}
			}
		})
	}
}

func TestKeyIDNilAndEmptyCollectionsAreEqual(t *testing.T) {
	a := Key{IssuerURL: "https://i", ClientID: "c"}
	b := Key{IssuerURL: "https://i", ClientID: "c", Scopes: []string{}, ExtraParams: map[string]string{}}
	if a.ID() != b.ID() {
		t.Fatal("nil and empty scopes/extra params give different IDs")
	}
}

func TestKeyIDChangesWithEveryField(t *testing.T) {
	tests := []struct {
		name string
		mod  func(*Key)
	}{
		{"issuer", func(k *Key) { k.IssuerURL = "https://other.example.com" }},
		{"issuer trailing slash", func(k *Key) { k.IssuerURL += "/" }},
		{"client ID", func(k *Key) { k.ClientID = "other" }},
		{"scope added", func(k *Key) { k.Scopes = append(k.Scopes, "offline_access") }},
		{"scope removed", func(k *Key) { k.Scopes = k.Scopes[:2] }},
		{"scopes cleared", func(k *Key) { k.Scopes = nil }},
		{"extra param value", func(k *Key) { k.ExtraParams = map[string]string{"audience": "k8s", "prompt": "consent"} }},
		{"extra param name", func(k *Key) { k.ExtraParams = map[string]string{"audience": "k8s", "prompts": "login"} }},
		{"extra param added", func(k *Key) { k.ExtraParams = map[string]string{"audience": "k8s", "prompt": "login", "x": ""} }},
		{"extra params cleared", func(k *Key) { k.ExtraParams = nil }},
		{"grant type", func(k *Key) { k.GrantType = "device-code" }},
		{"username", func(k *Key) { k.Username = "bob" }},
		{"CA bundle", func(k *Key) { k.CACertHash = CAHash([]byte("other CA")) }},
		{"system roots", func(k *Key) { k.CACertHash = "" }},
		{"insecure skip TLS verify", func(k *Key) { k.InsecureSkipTLSVerify = true }},
		{"use access token", func(k *Key) { k.UseAccessToken = true }},
		{"bound to a cluster", func(k *Key) { k.Cluster = "https://proxy.example.com" }},
		{"bound to a look-alike cluster", func(k *Key) { k.Cluster = "https://proxy.example.com.evil.example" }},
		{"audience", func(k *Key) { k.Audience = "proxy-a" }},
		{"audience with the cluster's name", func(k *Key) { k.Audience = "https://proxy.example.com" }},
	}
	base := baseKey().ID()
	seen := map[string]string{base: "base"}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			k := baseKey()
			tt.mod(&k)
			id := k.ID()
			if prev, ok := seen[id]; ok {
				t.Fatalf("ID collides with %q", prev)
			}
			seen[id] = tt.name
		})
	}
}

// Moving bytes between adjacent fields must change the ID: the encoding is
// length-prefixed, not concatenated or space-joined.
func TestKeyIDIsUnambiguous(t *testing.T) {
	tests := []struct {
		name string
		a, b Key
	}{
		{"issuer/client boundary", Key{IssuerURL: "ab", ClientID: "c"}, Key{IssuerURL: "a", ClientID: "bc"}},
		{"scope with a space", Key{Scopes: []string{"a b"}}, Key{Scopes: []string{"a", "b"}}},
		{"param name/value boundary", Key{ExtraParams: map[string]string{"ab": "c"}}, Key{ExtraParams: map[string]string{"a": "bc"}}},
		{"param vs scope", Key{Scopes: []string{"a", "b"}}, Key{ExtraParams: map[string]string{"a": "b"}}},
		{"username/grant boundary", Key{GrantType: "password", Username: ""}, Key{GrantType: "", Username: "password"}},
		{"invalid UTF-8 strings", Key{ClientID: "\xff"}, Key{ClientID: "\xfe"}},
		{"bools swapped", Key{InsecureSkipTLSVerify: true}, Key{UseAccessToken: true}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.a.ID() == tt.b.ID() {
				t.Fatal("different keys give the same ID")
			}
		})
	}
}

// The ID names files on people's disks: changing the encoding by accident
// would silently drop every cached login. Change this value only together
// with keyEncodingVersion.
func TestKeyIDIsStable(t *testing.T) {
	const want = "195d880e131675de59c1c12b3afef3b1dc8e31a1756965f2e688ee9167f8c16f"
	got := baseKey().ID()
	if !isKeyID(got) {
		t.Fatalf("ID() = %q, want 64 lowercase hex digits", got)
	}
	if got != want {
		t.Fatalf("ID() = %s, want %s", got, want)
	}
}

func TestCAHash(t *testing.T) {
	if CAHash(nil) != "" {
		t.Error("CAHash(nil) != \"\"")
	}
	if got := CAHash([]byte("abc")); got != "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad" {
		t.Errorf("CAHash(abc) = %s", got)
	}
}
