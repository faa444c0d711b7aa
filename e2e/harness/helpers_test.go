package harness

import (
	"crypto/rand"
	"crypto/rsa"
	"strings"
	"testing"
	"time"
)

func TestSumCounterAddsOnlyMatchingSamples(t *testing.T) {
	text := strings.Join([]string{
		`# TYPE http_requests_total counter`,
		`http_requests_total{code="200",handler="/token",method="POST"} 3`,
		`http_requests_total{code="401",handler="/token",method="POST"} 2`,
		`http_requests_total{code="200",handler="/auth",method="GET"} 7`,
		`http_requests_total_other{handler="/token"} 100`,
	}, "\n")
	tests := []struct {
		handler string
		want    int
	}{
		{"/token", 5},
		{"/auth", 7},
		{"/keys", 0},
	}
	for _, tt := range tests {
		got, err := sumCounter(text, "http_requests_total", `handler="`+tt.handler+`"`)
		if err != nil || got != tt.want {
			t.Errorf("sumCounter(%s) = %d, %v; want %d", tt.handler, got, err, tt.want)
		}
	}
}

func TestTailLinesKeepsTheLastLines(t *testing.T) {
	tests := []struct {
		in   string
		n    int
		want string
	}{
		{"a\nb\nc\n", 2, "b\nc"},
		{"a\nb", 5, "a\nb"},
		{"", 3, ""},
	}
	for _, tt := range tests {
		if got := tailLines([]byte(tt.in), tt.n); got != tt.want {
			t.Errorf("tailLines(%q, %d) = %q, want %q", tt.in, tt.n, got, tt.want)
		}
	}
}

func TestForgedTokensKeepClaimsAndChangeOnlyWhatTheyClaim(t *testing.T) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	exp := time.Now().Add(time.Hour).Truncate(time.Second)
	claims := map[string]any{"iss": "https://issuer", "email": "a@example.com", "exp": exp.Unix()}
	signed, err := SignRS256(key, "kid-1", claims)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := TokenExpiry(signed); err != nil || !got.Equal(exp) {
		t.Fatalf("TokenExpiry = %v, %v; want %v", got, err, exp)
	}
	tampered, err := TamperEmail(signed, "b@example.com")
	if err != nil {
		t.Fatal(err)
	}
	sp, tp := strings.Split(signed, "."), strings.Split(tampered, ".")
	if sp[0] != tp[0] || sp[2] != tp[2] || sp[1] == tp[1] {
		t.Fatalf("TamperEmail must change only the payload: %q -> %q", signed, tampered)
	}
	none, err := UnsignedJWT("kid-1", claims)
	if err != nil || !strings.HasSuffix(none, ".") || strings.Count(none, ".") != 2 {
		t.Fatalf("UnsignedJWT = %q, %v; want header.payload. with an empty signature", none, err)
	}
}
