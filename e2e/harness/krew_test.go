package harness

import (
	"strings"
	"testing"
)

// TestFindKrewToolExplainsWhatToRun: a missing krew names the command that builds it.
func TestFindKrewToolExplainsWhatToRun(t *testing.T) {
	t.Setenv("XDG_CACHE_HOME", t.TempDir())
	t.Setenv(krewOverrideEnv, "")
	for _, name := range []string{KrewBin, KrewValidateBin} {
		_, err := FindKrewTool(name)
		if err == nil || !strings.Contains(err.Error(), "build-bins.sh krew") {
			t.Errorf("FindKrewTool(%s) error = %v, want one naming build-bins.sh krew", name, err)
		}
	}
}
