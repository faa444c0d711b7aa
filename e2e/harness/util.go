package harness

import (
	"crypto/rand"
	"encoding/hex"
	"os"
	"testing"
)

func randToken(t testing.TB) string {
	t.Helper()
	b := make([]byte, 24)
	_, _ = rand.Read(b) // never fails (Go 1.24+)
	return hex.EncodeToString(b)
}

func mustWrite(t testing.TB, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatalf("write %s: %v", path, err)
	}
}
