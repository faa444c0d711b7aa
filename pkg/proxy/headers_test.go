package proxy

import (
	"strings"
	"testing"
)

// referenceClassifyHeader is classifyHeader as the plain comparisons it
// stands for.
func referenceClassifyHeader(name string) headerClass {
	switch {
	case strings.EqualFold(name, "Authorization"):
		return authorizationHeader
	case hasPrefixFold(name, impersonatePrefix):
		return impersonateHeader
	case hasPrefixFold(name, remotePrefix):
		return remoteHeader
	case strings.EqualFold(name, "Sec-WebSocket-Protocol"):
		return webSocketProtocolHeader
	}
	return otherHeader
}

func TestClassifyHeader(t *testing.T) {
	tests := []struct {
		name string
		want headerClass
	}{
		{"Authorization", authorizationHeader},
		{"aUTHORIZATION", authorizationHeader},
		{"Authorization2", otherHeader},
		{"Impersonate-User", impersonateHeader},
		{"impersonate-extra-scopes", impersonateHeader},
		{"Impersonate", otherHeader},
		{"X-Remote-User", remoteHeader},
		{"x-remote-", remoteHeader},
		{"X-Forwarded-For", otherHeader},
		{"Sec-Websocket-Protocol", webSocketProtocolHeader},
		{"sec-websocket-protocol", webSocketProtocolHeader},
		// U+017F (long s) and U+212A (Kelvin sign) fold to s and k.
		{"\u017fec-Websocket-Protocol", webSocketProtocolHeader},
		{"Sec-Websoc\u212aet-Protocol", webSocketProtocolHeader},
		{"Imper\u017fonate-User", otherHeader},
		{"", otherHeader},
		{"Accept", otherHeader},
	}
	for _, tt := range tests {
		if got := classifyHeader(tt.name); got != tt.want {
			t.Errorf("classifyHeader(%q) = %d, want %d", tt.name, got, tt.want)
		}
		if ref := referenceClassifyHeader(tt.name); ref != tt.want {
			t.Errorf("reference(%q) = %d, want %d", tt.name, ref, tt.want)
		}
	}
}

// FuzzClassifyHeader holds classifyHeader, which picks one comparison by
// the first byte, against all the comparisons made one after the other.
func FuzzClassifyHeader(f *testing.F) {
	for _, s := range []string{"Authorization", "Impersonate-Extra-A", "X-Remote-Group", "Sec-WebSocket-Protocol", "\u017fec-websocket-protocol", "Accept", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, name string) {
		if got, want := classifyHeader(name), referenceClassifyHeader(name); got != want {
			t.Fatalf("classifyHeader(%q) = %d, the comparisons say %d", name, got, want)
		}
	})
}
