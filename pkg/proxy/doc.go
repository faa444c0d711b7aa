// Package proxy is oidc-proxy's request path: it authenticates each
// request's bearer token, decides once who the API server is to see (the
// forward plan), replaces every client identity header with the plan's
// Impersonate-* headers and forwards the request to the Kubernetes API
// server with the proxy's own credentials.
//
// The request path is a chain of small http.Handler wrappers (see
// NewHandler), each one testable alone, ending in a configured
// httputil.ReverseProxy. Around it, one package per role:
//
//   - authn: bearer tokens to identities (kube-apiserver's OIDC
//     authenticator), refusals typed by their HTTP meaning;
//   - identity: the one validator of canonical identity values;
//   - accesslog: the access-log line encoders;
//   - upstream: the API server and the transports to it;
//   - logging: the program's log stream, the libraries' klog lines included;
//   - tracing: OpenTelemetry tracing (config, allow-list, transport spans);
//   - server: flags, start-up (complete, new, run) and serving.
package proxy
