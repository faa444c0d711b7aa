# syntax=docker/dockerfile:1
# oidc-proxy container image: a static binary on distroless (nonroot, no shell).
#   docker buildx build --platform linux/amd64,linux/arm64 \
#     --build-arg VERSION=v0.1.0 -t ghcr.io/kube-oidc/oidc-proxy:v0.1.0 .
# The build stage runs on the builder's own platform and cross-compiles
# (CGO off), so multi-arch builds need no emulation.
FROM --platform=$BUILDPLATFORM golang:1.26.11-bookworm AS build
ARG TARGETOS TARGETARCH
ARG VERSION=dev
WORKDIR /src
COPY go.mod go.sum ./
RUN --mount=type=cache,target=/root/go/pkg/mod go mod download
COPY cmd/ cmd/
COPY internal/ internal/
COPY pkg/ pkg/
RUN --mount=type=cache,target=/root/go/pkg/mod --mount=type=cache,target=/root/.cache/go-build \
    CGO_ENABLED=0 GOOS=$TARGETOS GOARCH=$TARGETARCH go build -trimpath -buildvcs=false \
      -ldflags "-s -w -X github.com/kube-oidc/kube-oidc/internal/version.Version=${VERSION}" \
      -o /out/oidc-proxy ./cmd/oidc-proxy

FROM gcr.io/distroless/static-debian12:nonroot
ARG VERSION=dev
ARG REVISION=""
# The same labels as `make image` (hack/image), which builds this image without Docker.
LABEL org.opencontainers.image.title="oidc-proxy" \
      org.opencontainers.image.description="OIDC authenticating, impersonating proxy in front of kube-apiserver" \
      org.opencontainers.image.source="https://github.com/kube-oidc/kube-oidc" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}"
COPY --from=build /out/oidc-proxy /oidc-proxy
USER 65532:65532
# 6443 secure port, 8080 /ready, 8081 /metrics (the defaults).
EXPOSE 6443 8080 8081
ENTRYPOINT ["/oidc-proxy"]
