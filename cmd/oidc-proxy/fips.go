package main

import (
	"crypto/fips140"
	"fmt"
	"log/slog"

	"github.com/kube-oidc/kube-oidc/internal/version"
)

// versionLine is what `oidc-proxy version` and --version print: the
// version and, in FIPS 140-3 mode (a GOFIPS140 build, or
// GODEBUG=fips140=on|only), the mode and the Go Cryptographic Module's
// version.
func versionLine() string {
	if !fips140.Enabled() {
		return "oidc-proxy " + version.Version
	}
	return fmt.Sprintf("oidc-proxy %s (FIPS 140-3 mode %s: Go Cryptographic Module %s)", version.Version, fipsMode(), fips140.Version())
}

func fipsMode() string {
	if fips140.Enforced() {
		return "only"
	}
	return "on"
}

// logFIPSMode says at start that the process runs in FIPS 140-3 mode: TLS
// (served and to the API server and issuers) then negotiates only
// FIPS-approved versions, cipher suites, key exchanges and signature
// algorithms (crypto/tls in FIPS mode).
func logFIPSMode(log *slog.Logger) {
	if fips140.Enabled() {
		log.Info("FIPS 140-3 mode: TLS limited to FIPS-approved versions, cipher suites, key exchanges and signatures",
			"mode", fipsMode(), "module", fips140.Version())
	}
}
