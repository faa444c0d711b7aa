#!/usr/bin/env bash
# Builds the real components the e2e tests run, once, into
# ${XDG_CACHE_HOME:-$HOME/.cache}/kube-oidc/<component>-<version>/.
# A component whose binary is already there is skipped, so only the first run pays.
# kubectl is built only when none is on PATH (or when asked for by name).
# Usage: e2e/hack/build-bins.sh [kube-apiserver|dex|kubectl|krew|kubelogin|kubelet|kube-controller-manager|kube-scheduler]...
#        (default: kube-apiserver, dex, krew, kubelogin, the node's components, and kubectl if missing)
set -euo pipefail

E2E_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CACHE="${XDG_CACHE_HOME:-$HOME/.cache}/kube-oidc"
GO="${GO:-go}"
NICE="${NICE:-nice -n 19}"

KUBE_VERSION="v1.37.2"
DEX_VERSION="v2.41.1"
KREW_VERSION="v0.4.3"
KUBELOGIN_VERSION="v1.34.0"
# Dex v2.41.1 as the module proxy serves it (the tag itself is not a valid
# module version: `latest` resolves to a 2018 pseudo-version that does not build).
DEX_MODULE_VERSION="v0.0.0-20240807174518-43956db7fd75"
DEX_API_VERSION="v2.1.1-0.20240807174518-43956db7fd75"

log() { echo "build-bins: $*" >&2; }

build_kube_apiserver() {
	local dir="$CACHE/kube-apiserver-$KUBE_VERSION" bin
	bin="$dir/kube-apiserver"
	if [[ -x "$bin" ]]; then log "kube-apiserver $KUBE_VERSION present: $bin"; return; fi
	mkdir -p "$dir"
	log "building kube-apiserver $KUBE_VERSION (about 6 minutes on 2 cores, cold)"
	local start=$SECONDS
	# e2e/go.mod requires k8s.io/kubernetes and pins every staging module.
	(cd "$E2E_DIR" && $NICE "$GO" build -trimpath -o "$bin.tmp" k8s.io/kubernetes/cmd/kube-apiserver)
	mv "$bin.tmp" "$bin"
	log "kube-apiserver built in $((SECONDS - start))s: $bin"
}

# The node's components (kubelet, kube-controller-manager, kube-scheduler), for
# the real-node scenarios: same module and cache layout as kube-apiserver.
build_kube_component() {
	local name="$1" dir bin
	dir="$CACHE/$name-$KUBE_VERSION"
	bin="$dir/$name"
	if [[ -x "$bin" ]]; then log "$name $KUBE_VERSION present: $bin"; return; fi
	mkdir -p "$dir"
	log "building $name $KUBE_VERSION"
	local start=$SECONDS
	(cd "$E2E_DIR" && $NICE "$GO" build -trimpath -o "$bin.tmp" "k8s.io/kubernetes/cmd/$name")
	mv "$bin.tmp" "$bin"
	log "$name built in $((SECONDS - start))s: $bin"
}

build_kubectl() {
	local dir="$CACHE/kubectl-$KUBE_VERSION" bin
	bin="$dir/kubectl"
	if [[ -x "$bin" ]]; then log "kubectl $KUBE_VERSION present: $bin"; return; fi
	if [[ "${1:-}" != force ]] && command -v kubectl >/dev/null 2>&1; then
		log "kubectl on PATH ($(command -v kubectl)); not building one"
		return
	fi
	mkdir -p "$dir"
	log "building kubectl $KUBE_VERSION"
	local start=$SECONDS
	(cd "$E2E_DIR" && $NICE "$GO" build -trimpath -o "$bin.tmp" k8s.io/kubernetes/cmd/kubectl)
	mv "$bin.tmp" "$bin"
	log "kubectl built in $((SECONDS - start))s: $bin"
}

build_dex() {
	local dir="$CACHE/dex-$DEX_VERSION" bin src
	bin="$dir/dex"
	if [[ -x "$bin" ]]; then log "dex $DEX_VERSION present: $bin"; return; fi
	mkdir -p "$dir"
	log "building dex $DEX_VERSION (1 to 2.5 minutes on 2 cores, cold)"
	local start=$SECONDS
	export GONOSUMDB=github.com/dexidp/dex GOFLAGS=-mod=mod
	src="$("$GO" mod download -json "github.com/dexidp/dex@$DEX_MODULE_VERSION" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')"
	if [[ -z "$src" ]]; then log "could not download github.com/dexidp/dex@$DEX_MODULE_VERSION"; exit 1; fi
	rm -rf "$dir/src"
	cp -r "$src" "$dir/src"
	chmod -R u+w "$dir/src"
	(
		cd "$dir/src"
		"$GO" mod edit -replace "github.com/dexidp/dex/api/v2=github.com/dexidp/dex/api/v2@$DEX_API_VERSION"
		"$GO" mod tidy
		$NICE "$GO" build -trimpath -o "$bin.tmp" ./cmd/dex
	)
	mv "$bin.tmp" "$bin"
	rm -rf "$dir/src"
	log "dex built in $((SECONDS - start))s: $bin"
}

# krew and validate-krew-manifest, for the krew install scenarios (its own
# go.mod: `go install pkg@version` builds it exactly as released).
build_krew() {
	local dir="$CACHE/krew-$KREW_VERSION"
	if [[ -x "$dir/krew" && -x "$dir/validate-krew-manifest" ]]; then log "krew $KREW_VERSION present: $dir"; return; fi
	mkdir -p "$dir"
	log "building krew $KREW_VERSION (about a minute on 2 cores, cold)"
	local start=$SECONDS
	GOBIN="$dir" GOFLAGS= $NICE "$GO" install "sigs.k8s.io/krew/cmd/krew@$KREW_VERSION" "sigs.k8s.io/krew/cmd/validate-krew-manifest@$KREW_VERSION"
	log "krew built in $((SECONDS - start))s: $dir"
}

# kubelogin (int128/kubelogin), for the migration scenario: it writes the
# kubeconfig user and token cache that `kubectl oidc convert` takes over.
build_kubelogin() {
	local dir="$CACHE/kubelogin-$KUBELOGIN_VERSION"
	if [[ -x "$dir/kubelogin" ]]; then log "kubelogin $KUBELOGIN_VERSION present: $dir/kubelogin"; return; fi
	mkdir -p "$dir"
	log "building kubelogin $KUBELOGIN_VERSION (under a minute on 2 cores, cold)"
	local start=$SECONDS
	# Not `go install pkg@version`: it asks the module proxy for the version
	# list, which is refused; a module requiring the exact version builds it.
	rm -rf "$dir/src"
	mkdir -p "$dir/src"
	(
		cd "$dir/src"
		export GOFLAGS=-mod=mod
		"$GO" mod init kubelogin-build >/dev/null 2>&1
		"$GO" get "github.com/int128/kubelogin@$KUBELOGIN_VERSION"
		$NICE "$GO" build -trimpath -o "$dir/kubelogin.tmp" github.com/int128/kubelogin
	)
	mv "$dir/kubelogin.tmp" "$dir/kubelogin"
	rm -rf "$dir/src"
	log "kubelogin built in $((SECONDS - start))s: $dir/kubelogin"
}

components=("$@")
[[ ${#components[@]} -eq 0 ]] && components=(kube-apiserver dex krew kubelogin kubelet kube-controller-manager kube-scheduler kubectl-if-missing)
for c in "${components[@]}"; do
	case "$c" in
	kube-apiserver) build_kube_apiserver ;;
	dex) build_dex ;;
	kubectl) build_kubectl force ;;
	kubectl-if-missing) build_kubectl ;;
	krew) build_krew ;;
	kubelogin) build_kubelogin ;;
	kubelet | kube-controller-manager | kube-scheduler) build_kube_component "$c" ;;
	*) log "unknown component $c (want kube-apiserver, dex, kubectl, krew, kubelogin, kubelet, kube-controller-manager or kube-scheduler)"; exit 2 ;;
	esac
done
