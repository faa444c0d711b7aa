// Package proxy is the oidc-proxy server: it authenticates each request's
// bearer token, replaces every client identity header with Impersonate-*
// headers for the authenticated user and forwards the request to the
// Kubernetes API server with the proxy's own credentials.
//
// The request path is a chain of small http.Handler wrappers (see NewHandler),
// each one testable alone, ending in a configured httputil.ReverseProxy.
package proxy
