package e2e

import (
	"os"
	"testing"

	"github.com/kube-oidc/kube-oidc/e2e/harness"
)

func TestMain(m *testing.M) {
	code := m.Run()
	harness.CleanupOurBinaries()
	os.Exit(code)
}
