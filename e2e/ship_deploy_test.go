package e2e

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/kube-oidc/kube-oidc/e2e/harness"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	apiserveroptions "k8s.io/apiserver/pkg/server/options"
	"k8s.io/client-go/rest"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	"sigs.k8s.io/yaml"
)

// Values for the chart: the least a user must give, and every flag group.
const (
	chartMinimalValues = `
oidc:
  issuerUrl: https://dex.example.com
  clientId: kubernetes
`
	chartAnonymousValues = `
authenticationConfig:
  apiVersion: apiserver.config.k8s.io/v1
  kind: AuthenticationConfiguration
  jwt: [{issuer: {url: https://dex.example.com, audiences: [kubernetes]}, claimMappings: {username: {claim: sub, prefix: "dex:"}}}]
  anonymous: {enabled: true, conditions: [{path: /openid/v1/jwks}]}
`
	chartFullOIDCValues = `
replicaCount: 3
image: {repository: registry.example.com/oidc-proxy, tag: v9.9.9, pullPolicy: Always}
imagePullSecrets: [{name: regcred}]
oidc:
  issuerUrl: https://dex.example.com
  clientId: kubernetes
  caPEM: |
    -----BEGIN CERTIFICATE-----
    MIIBdummy
    -----END CERTIFICATE-----
  usernameClaim: email
  usernamePrefix: "-"
  groupsClaim: groups
  groupsPrefix: "oidc:"
  requiredClaims: {hd: example.com, tenant: blue}
  signingAlgs: [RS256, ES256]
tokenCacheTTL: 30s
allowSystemIdentities: true
tls: {secretName: my-proxy-tls}
tokenPassthrough: {enabled: true, audiences: [kubernetes, sts.amazonaws.com]}
extraUserHeaders: {team: platform, cluster: prod}
extraUserHeaderClientIP: true
trustedProxyCIDRs: [10.0.0.0/8]
proxyProtocol: {enabled: true, trustedCIDRs: [10.0.0.0/8]}
issuerClientCert: {secretName: issuer-client}
impersonation: {originalUserExtraPrefix: example.com/original-, reviewTimeout: 5s}
audit:
  enabled: true
  policy: {apiVersion: audit.k8s.io/v1, kind: Policy, rules: [{level: RequestResponse}]}
  logPath: /var/log/oidc-proxy/audit.log
  logFormat: json
  logMaxAge: 7
  logMaxBackup: 3
  logMaxSize: 100
  webhookConfig: |
    apiVersion: v1
    kind: Config
    clusters: [{name: siem, cluster: {server: "https://siem.example.com/audit"}}]
    users: [{name: siem, user: {}}]
    contexts: [{name: siem, context: {cluster: siem, user: siem}}]
    current-context: siem
extraArgs: [--upstream-response-header-timeout=90s]
readinessProbePort: 9080
metrics: {port: 9081}
logging: {format: text, verbosity: 3}
tracing: {enabled: true, endpoint: "otel-collector.monitoring:4318", protocol: http/protobuf, samplingRatePerMillion: 100}
shutdownDelaySeconds: 10
resources: {requests: {cpu: 200m, memory: 128Mi}, limits: {memory: 512Mi}}
service: {type: LoadBalancer, port: 8443, nodePort: 30443, annotations: {example.com/lb: internal}, loadBalancerSourceRanges: [192.0.2.0/24]}
ingress:
  enabled: true
  className: nginx
  annotations: {nginx.ingress.kubernetes.io/backend-protocol: HTTPS}
  hosts: [{host: k8s.example.com}]
  tls: [{secretName: k8s-example-com, hosts: [k8s.example.com]}]
podDisruptionBudget: {enabled: true, minAvailable: 2}
serviceAccount: {create: true, name: proxy-sa, annotations: {example.com/role: proxy}}
rbac: {create: true, extraUserExtras: [reason]}
podAnnotations: {example.com/scrape: "true"}
podLabels: {team: platform}
nodeSelector: {kubernetes.io/os: linux}
tolerations: [{key: dedicated, operator: Equal, value: proxy, effect: NoSchedule}]
topologySpreadConstraints: [{maxSkew: 1, topologyKey: topology.kubernetes.io/zone, whenUnsatisfiable: ScheduleAnyway, labelSelector: {matchLabels: {app.kubernetes.io/name: oidc-proxy}}}]
priorityClassName: system-cluster-critical
`
	chartFullAuthConfigValues = `
authenticationConfig:
  apiVersion: apiserver.config.k8s.io/v1
  kind: AuthenticationConfiguration
  jwt:
  - issuer: {url: https://dex.example.com, audiences: [kubernetes]}
    claimMappings:
      username: {claim: email, prefix: ""}
      groups: {claim: groups, prefix: "oidc:"}
      extra:
      - key: example.com/tenant
        valueExpression: claims.tenant
tls:
  certManager:
    enabled: true
    issuerRef: {name: letsencrypt, kind: ClusterIssuer, group: cert-manager.io}
    dnsNames: [k8s.example.com]
    duration: 2160h
    renewBefore: 360h
disableImpersonation: true
tokenPassthrough: {enabled: true}
audit: {enabled: true}
`
)

// certificateCRD is cert-manager's Certificate CRD, cut to the fields the
// chart sets (unknown fields still fail kubectl's strict validation).
const certificateCRD = `apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {name: certificates.cert-manager.io}
spec:
  group: cert-manager.io
  names: {kind: Certificate, listKind: CertificateList, plural: certificates, singular: certificate}
  scope: Namespaced
  versions:
  - name: v1
    served: true
    storage: true
    schema:
      openAPIV3Schema:
        type: object
        properties:
          spec:
            type: object
            required: [secretName, issuerRef]
            properties:
              secretName: {type: string}
              dnsNames: {type: array, items: {type: string}}
              duration: {type: string}
              renewBefore: {type: string}
              issuerRef:
                type: object
                required: [name]
                properties: {name: {type: string}, kind: {type: string}, group: {type: string}}
              privateKey:
                type: object
                properties:
                  algorithm: {type: string, enum: [RSA, ECDSA, Ed25519]}
                  size: {type: integer}
                  rotationPolicy: {type: string, enum: [Never, Always]}
`

func renderShipped(t *testing.T, form, values, namespace string) []byte {
	t.Helper()
	var (
		out []byte
		err error
	)
	switch form {
	case "kustomize":
		dir, derr := harness.ShippedPath(harness.KustomizeDir)
		if derr != nil {
			t.Fatal(derr)
		}
		out, err = harness.RenderKustomize(dir)
	default:
		dir, derr := harness.ShippedPath(harness.ChartDir)
		if derr != nil {
			t.Fatal(derr)
		}
		out, err = harness.RenderChart(dir, "oidc", namespace, values)
	}
	if err != nil {
		t.Fatalf("render %s: %v", form, err)
	}
	return out
}

// splitObjects decodes a multi-document YAML stream.
func splitObjects(t *testing.T, manifests []byte) []*unstructured.Unstructured {
	t.Helper()
	dec := utilyaml.NewYAMLOrJSONDecoder(bytes.NewReader(manifests), 4096)
	var objs []*unstructured.Unstructured
	for {
		u := &unstructured.Unstructured{}
		if err := dec.Decode(&u.Object); err != nil {
			if errors.Is(err, io.EOF) {
				break
			}
			t.Fatalf("decode manifests: %v\n%s", err, manifests)
		}
		if len(u.Object) > 0 {
			objs = append(objs, u)
		}
	}
	return objs
}

func findObject(t *testing.T, objs []*unstructured.Unstructured, kind string, into any) {
	t.Helper()
	for _, o := range objs {
		if o.GetKind() == kind {
			b, err := yaml.Marshal(o.Object)
			if err != nil {
				t.Fatal(err)
			}
			if err := yaml.Unmarshal(b, into); err != nil {
				t.Fatal(err)
			}
			return
		}
	}
	t.Fatalf("no %s in the rendered manifests", kind)
}

func kinds(objs []*unstructured.Unstructured) []string {
	var out []string
	for _, o := range objs {
		out = append(out, o.GetKind())
	}
	slices.Sort(out)
	return out
}

// adminKubectl is kubectl with the cluster admin's token.
func adminKubectl(t *testing.T, api *harness.APIServer) *harness.Kubectl {
	t.Helper()
	kc := filepath.Join(t.TempDir(), "admin.kubeconfig")
	if err := harness.WriteKubeconfig(kc, api.URL, api.CAPEM, &clientcmdapi.AuthInfo{Token: api.AdminToken}); err != nil {
		t.Fatal(err)
	}
	return harness.NewPlainKubectl(t, kc)
}

// kubectlApply runs `kubectl apply -f - [extra...]` with manifests on stdin.
func kubectlApply(ctx context.Context, k *harness.Kubectl, manifests []byte, extra ...string) harness.KubectlResult {
	cmd, stdout, stderr := k.Command(ctx, append([]string{"apply", "-f", "-"}, extra...)...)
	cmd.Stdin = bytes.NewReader(manifests)
	err := cmd.Run()
	return harness.KubectlResult{Stdout: stdout.String(), Stderr: stderr.String(), Err: err}
}

// TestShipManifestsServerDryRun: the kustomize base and the Helm chart (with
// the least values a user gives, and with every flag group set) are accepted
// by the real API server: `kubectl apply --dry-run=server` (strict field
// validation, admission, PodSecurity "restricted" warnings on) creates every
// object without error or warning.
func TestShipManifestsServerDryRun(t *testing.T) {
	api := harness.StartAPIServer(t)
	k := adminKubectl(t, api)
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
	defer cancel()
	// Namespaced objects cannot be dry-run into a namespace that does not
	// exist, and cert-manager's Certificate needs its CRD.
	setup := []byte(certificateCRD + `---
apiVersion: v1
kind: Namespace
metadata:
  name: oidc-proxy
  labels: {pod-security.kubernetes.io/enforce: restricted, pod-security.kubernetes.io/warn: restricted}
---
apiVersion: v1
kind: Namespace
metadata:
  name: kube-oidc
  labels: {pod-security.kubernetes.io/enforce: restricted, pod-security.kubernetes.io/warn: restricted}
`)
	if r := kubectlApply(ctx, k, setup); r.Err != nil {
		api.Fatalf(t, "setup: %s", r)
	}
	if r := k.Run(ctx, "wait", "--for=condition=Established", "crd/certificates.cert-manager.io", "--timeout=60s"); r.Err != nil {
		api.Fatalf(t, "Certificate CRD: %s", r)
	}

	tests := []struct {
		form, values string
		wantKinds    []string
	}{
		{form: "kustomize", wantKinds: []string{"ClusterRole", "ClusterRoleBinding", "ConfigMap", "Deployment", "Namespace", "PodDisruptionBudget", "Service", "ServiceAccount"}},
		{form: "helm minimal", values: chartMinimalValues, wantKinds: []string{"ClusterRole", "ClusterRoleBinding", "Deployment", "PodDisruptionBudget", "Service", "ServiceAccount"}},
		{form: "helm full oidc flags", values: chartFullOIDCValues, wantKinds: []string{"ClusterRole", "ClusterRoleBinding", "ConfigMap", "Deployment", "Ingress", "PodDisruptionBudget", "Secret", "Service", "ServiceAccount"}},
		{form: "helm full authentication config", values: chartFullAuthConfigValues, wantKinds: []string{"Certificate", "ClusterRole", "ClusterRoleBinding", "ConfigMap", "Deployment", "PodDisruptionBudget", "Service", "ServiceAccount"}},
	}
	for _, tt := range tests {
		t.Run(tt.form, func(t *testing.T) {
			manifests := renderShipped(t, tt.form, tt.values, "kube-oidc")
			objs := splitObjects(t, manifests)
			if got := kinds(objs); !slices.Equal(got, tt.wantKinds) {
				t.Errorf("rendered kinds %v, want %v", got, tt.wantKinds)
			}
			r := kubectlApply(ctx, k, manifests, "--dry-run=server", "--validate=strict")
			if r.Err != nil {
				t.Fatalf("kubectl apply --dry-run=server: %s\n---\n%s", r, manifests)
			}
			if strings.Contains(r.Stderr, "Warning") {
				t.Errorf("the API server warned:\n%s", r.Stderr)
			}
			for _, o := range objs {
				// kubectl prints KIND.GROUP/NAME created|configured|unchanged (server dry run).
				want := regexp.MustCompile(`(?m)^` + strings.ToLower(o.GetKind()) + `(\.[a-z0-9.-]+)?/` + regexp.QuoteMeta(o.GetName()) + ` (created|configured|unchanged) \(server dry run\)$`)
				if !want.MatchString(r.Stdout) {
					t.Errorf("kubectl output lacks %s %s (server dry run):\n%s", o.GetKind(), o.GetName(), r.Stdout)
				}
			}
		})
	}
}

// TestShipHelmChartValues: the chart turns values into the proxy's flags and
// the least RBAC for the modes enabled; unknown and conflicting values fail
// at render time with the reason.
func TestShipHelmChartValues(t *testing.T) {
	t.Run("flags and RBAC", func(t *testing.T) {
		tests := []struct {
			name        string
			values      string
			wantArgs    []string
			notArgs     []string
			wantRules   []string // "group/resource=verb", sorted resources per rule flattened
			absentRules []string
		}{
			{
				name:     "minimal: impersonation and SubjectAccessReviews, no TokenReviews",
				values:   chartMinimalValues,
				wantArgs: []string{"--oidc-issuer-url=https://dex.example.com", "--oidc-client-id=kubernetes", "--tls-cert-file=/etc/oidc-proxy/tls/tls.crt", "--readiness-probe-port=8080", "--log-format=json"},
				notArgs:  []string{"--v=0", "--tracing-config-file=/etc/oidc-proxy/tracing/config.yaml", "--tracing-protocol=http/protobuf"},
				wantRules: []string{"/users=impersonate", "/groups=impersonate", "/serviceaccounts=impersonate", "authentication.k8s.io/uids=impersonate",
					"authentication.k8s.io/userextras/originaluser.jetstack.io-user=impersonate", "authorization.k8s.io/subjectaccessreviews=create"},
				absentRules: []string{"authentication.k8s.io/tokenreviews=create", "authentication.k8s.io/userextras/remote-client-ip=impersonate"},
			},
			{
				name:   "full: required claims are required claims, extras from headers and client IP",
				values: chartFullOIDCValues,
				wantArgs: []string{"--oidc-required-claim=hd=example.com", "--oidc-required-claim=tenant=blue", "--oidc-signing-algs=RS256,ES256",
					"--oidc-groups-prefix=oidc:", "--oidc-ca-file=/etc/oidc-proxy/oidc-ca/ca.crt", "--token-passthrough", "--token-passthrough-audiences=kubernetes,sts.amazonaws.com",
					"--extra-user-headers=cluster=prod,team=platform", "--extra-user-header-client-ip", "--trusted-proxy-cidrs=10.0.0.0/8",
					"--audit-log-path=/var/log/oidc-proxy/audit.log", "--audit-webhook-config-file=/etc/oidc-proxy/audit-webhook/kubeconfig",
					"--impersonation-original-user-extra-prefix=example.com/original-", "--impersonation-review-timeout=5s", "--upstream-response-header-timeout=90s", "--readiness-probe-port=9080", "--metrics-serving-address=:9081",
					"--log-format=text", "--v=3", "--tracing-config-file=/etc/oidc-proxy/tracing/config.yaml"},
				wantRules: []string{"authentication.k8s.io/tokenreviews=create", "authentication.k8s.io/userextras/team=impersonate", "authentication.k8s.io/userextras/cluster=impersonate",
					"authentication.k8s.io/userextras/remote-client-ip=impersonate", "authentication.k8s.io/userextras/reason=impersonate",
					"authentication.k8s.io/userextras/example.com/original-user=impersonate", "authentication.k8s.io/userextras/example.com/original-extra=impersonate"},
				absentRules: []string{"authentication.k8s.io/userextras/originaluser.jetstack.io-user=impersonate"},
			},
			{
				name:        "authentication config, no impersonation: TokenReviews only, extras of the config not needed",
				values:      chartFullAuthConfigValues,
				wantArgs:    []string{"--authentication-config=/etc/oidc-proxy/authentication/config.yaml", "--disable-impersonation", "--token-passthrough"},
				notArgs:     []string{"--oidc-issuer-url=https://dex.example.com"},
				wantRules:   []string{"authentication.k8s.io/tokenreviews=create"},
				absentRules: []string{"/users=impersonate", "authorization.k8s.io/subjectaccessreviews=create"},
			},
			{
				name:     "issuer client certificate",
				values:   chartMinimalValues + "issuerClientCert: {secretName: issuer-client}\n",
				wantArgs: []string{"--oidc-client-cert-file=/etc/oidc-proxy/issuer-client/tls.crt", "--oidc-client-key-file=/etc/oidc-proxy/issuer-client/tls.key"},
			},
			{
				name:     "PROXY protocol",
				values:   chartMinimalValues + "proxyProtocol: {enabled: true, trustedCIDRs: [10.0.0.0/8, 192.0.2.10]}\n",
				wantArgs: []string{"--proxy-protocol", "--proxy-protocol-trusted-cidrs=10.0.0.0/8,192.0.2.10"},
			},
			{
				name:      "authentication config with anonymous paths: system:anonymous is impersonated",
				values:    chartAnonymousValues,
				wantArgs:  []string{"--authentication-config=/etc/oidc-proxy/authentication/config.yaml"},
				notArgs:   []string{"--disable-impersonation", "--proxy-protocol"},
				wantRules: []string{"/users=impersonate", "/groups=impersonate"},
			},
			{
				name: "authentication config extras are impersonated",
				values: `
authenticationConfig:
  apiVersion: apiserver.config.k8s.io/v1
  kind: AuthenticationConfiguration
  jwt:
  - issuer: {url: https://dex.example.com, audiences: [kubernetes]}
    claimMappings:
      username: {claim: sub, prefix: "dex:"}
      extra: [{key: example.com/tenant, valueExpression: claims.tenant}]
`,
				wantRules: []string{"authentication.k8s.io/userextras/example.com/tenant=impersonate"},
			},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				objs := splitObjects(t, renderShipped(t, "helm", tt.values, "kube-oidc"))
				var dep struct {
					Spec struct {
						Template struct {
							Spec struct {
								Containers []struct {
									Args []string `json:"args"`
								} `json:"containers"`
							} `json:"spec"`
						} `json:"template"`
					} `json:"spec"`
				}
				findObject(t, objs, "Deployment", &dep)
				args := dep.Spec.Template.Spec.Containers[0].Args
				for _, a := range tt.wantArgs {
					if !slices.Contains(args, a) {
						t.Errorf("args lack %q: %q", a, args)
					}
				}
				for _, a := range tt.notArgs {
					if slices.Contains(args, a) {
						t.Errorf("args have %q: %q", a, args)
					}
				}
				var role rbacv1.ClusterRole
				findObject(t, objs, "ClusterRole", &role)
				var have []string
				for _, r := range role.Rules {
					for _, g := range r.APIGroups {
						for _, res := range r.Resources {
							for _, v := range r.Verbs {
								have = append(have, g+"/"+res+"="+v)
							}
						}
					}
				}
				for _, w := range tt.wantRules {
					if !slices.Contains(have, w) {
						t.Errorf("ClusterRole lacks %s: %v", w, have)
					}
				}
				for _, w := range tt.absentRules {
					if slices.Contains(have, w) {
						t.Errorf("ClusterRole grants %s, which this mode does not use", w)
					}
				}
			})
		}
	})

	t.Run("tracing config is a TracingConfiguration kube-apiserver reads", func(t *testing.T) {
		objs := splitObjects(t, renderShipped(t, "helm", chartFullOIDCValues, "kube-oidc"))
		var cm struct {
			Data map[string]string `json:"data"`
		}
		findObject(t, objs, "ConfigMap", &cm)
		path := filepath.Join(t.TempDir(), "tracing.yaml")
		if err := os.WriteFile(path, []byte(cm.Data["tracing-config.yaml"]), 0o600); err != nil {
			t.Fatal(err)
		}
		cfg, err := apiserveroptions.ReadTracingConfiguration(path)
		if err != nil {
			t.Fatalf("%v:\n%s", err, cm.Data["tracing-config.yaml"])
		}
		if cfg.Endpoint == nil || *cfg.Endpoint != "otel-collector.monitoring:4318" || cfg.SamplingRatePerMillion == nil || *cfg.SamplingRatePerMillion != 100 {
			t.Errorf("tracing configuration %+v", cfg)
		}
	})

	t.Run("refused values", func(t *testing.T) {
		dir, err := harness.ShippedPath(harness.ChartDir)
		if err != nil {
			t.Fatal(err)
		}
		tests := []struct{ name, values, wantErr string }{
			{"no issuer", ``, "set oidc.issuerUrl and oidc.clientId"},
			{"unknown top-level value", chartMinimalValues + "replicas: 3\n", "replicas"},
			{"unknown nested value", chartMinimalValues + "tls: {secret: x}\n", "secret"},
			{"wrong type", chartMinimalValues + "replicaCount: two\n", "replicaCount"},
			{"unknown service type", chartMinimalValues + "service: {type: External}\n", "type"},
			{"http issuer", "oidc: {issuerUrl: http://dex.example.com, clientId: k}\n", "issuerUrl"},
			{"issuer without client ID", "oidc: {issuerUrl: https://dex.example.com}\n", "must be set together"},
			{"oidc flags and authentication config", chartMinimalValues + "authenticationConfig: {apiVersion: apiserver.config.k8s.io/v1, kind: AuthenticationConfiguration, jwt: [{issuer: {url: https://x.example.com}}]}\n", "mutually exclusive"},
			{"authentication config without issuers", "authenticationConfig: {apiVersion: apiserver.config.k8s.io/v1, kind: AuthenticationConfiguration}\n", "at least one jwt"},
			{"self-signed and cert-manager", chartMinimalValues + "tls: {selfSigned: true, certManager: {enabled: true, issuerRef: {name: x}}}\n", "conflicts"},
			{"cert-manager without issuer", chartMinimalValues + "tls: {certManager: {enabled: true}}\n", "issuerRef.name"},
			{"extra headers without impersonation", chartMinimalValues + "disableImpersonation: true\nextraUserHeaders: {a: b}\n", "conflict with disableImpersonation"},
			{"passthrough audiences without passthrough", chartMinimalValues + "tokenPassthrough: {audiences: [x]}\n", "tokenPassthrough.enabled"},
			{"ingress without hosts", chartMinimalValues + "ingress: {enabled: true}\n", "ingress.hosts"},
			{"impersonation settings without impersonation", chartMinimalValues + "disableImpersonation: true\nimpersonation: {reviewTimeout: 5s}\n", "conflict with disableImpersonation"},
			{"tracing endpoint with a scheme", chartMinimalValues + "tracing: {enabled: true, endpoint: http://collector:4318}\n", "endpoint"},
			{"unknown tracing protocol", chartMinimalValues + "tracing: {enabled: true, protocol: zipkin}\n", "protocol"},
			{"sampling rate above a million", chartMinimalValues + "tracing: {enabled: true, samplingRatePerMillion: 1000001}\n", "samplingRatePerMillion"},
			{"verbosity above 5", chartMinimalValues + "logging: {verbosity: 6}\n", "verbosity"},
			{"unknown log format", chartMinimalValues + "logging: {format: xml}\n", "format"},
			{"signing alg none", "oidc: {issuerUrl: https://dex.example.com, clientId: k, signingAlgs: [none]}\n", "signingAlgs"},
			{"sign-in page without discovery", chartMinimalValues + "web: {enabled: true, clientId: w, redirectUrl: https://k.example.com/web/callback, clientSecret: {secretName: s}}\n", "needs discovery.clientId"},
			{"sign-in page without its secret", chartMinimalValues + "discovery: {clientId: kubectl}\nweb: {enabled: true, clientId: w, redirectUrl: https://k.example.com/web/callback}\n", "web.clientSecret.secretName"},
			{"sign-in page redirect elsewhere", chartMinimalValues + "discovery: {clientId: kubectl}\nweb: {enabled: true, clientId: w, redirectUrl: https://k.example.com/callback, clientSecret: {secretName: s}}\n", "redirectUrl"},
			{"PROXY protocol without trusted CIDRs", chartMinimalValues + "proxyProtocol: {enabled: true}\n", "proxyProtocol.trustedCIDRs"},
			{"PROXY protocol without the probe port", chartMinimalValues + "proxyProtocol: {enabled: true, trustedCIDRs: [10.0.0.0/8]}\nreadinessProbePort: 0\n", "readinessProbePort"},
			{"anonymous without impersonation", "disableImpersonation: true\n" + chartAnonymousValues, "conflicts with disableImpersonation"},
			{"anonymous on every path", strings.Replace(chartAnonymousValues, "conditions: [{path: /openid/v1/jwks}]", "", 1), "conditions"},
			{"anonymous relative path", strings.Replace(chartAnonymousValues, "path: /openid", "path: openid", 1), "path"},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				out, err := harness.RenderChart(dir, "oidc", "kube-oidc", tt.values)
				if err == nil {
					t.Fatalf("rendered, want an error mentioning %q:\n%s", tt.wantErr, out)
				}
				if !strings.Contains(err.Error(), tt.wantErr) {
					t.Errorf("error %q does not mention %q", err, tt.wantErr)
				}
			})
		}
	})
}

// TestShipInClusterPermissions: oidc-proxy running as a pod would, with the
// ServiceAccount, ClusterRole and ClusterRoleBinding exactly as shipped
// (kustomize, and Helm with passthrough and the client-IP extra enabled), its
// token from a TokenRequest and client-go's in-cluster configuration, serves
// every mode: Dex users impersonated (alice by email, the authors group, with
// the remote-client-ip extra), alice's own `kubectl --as bob` (a
// SubjectAccessReview by the proxy, then bob impersonated with the
// originaluser.jetstack.io-* extras), and a service-account token through
// --token-passthrough (a TokenReview by the proxy). team-b is refused by the
// API server in alice's name. Without the shipped binding the same request
// is refused for want of impersonation rights, so the shipped rules are what
// make it work.
func TestShipInClusterPermissions(t *testing.T) {
	api := harness.StartAPIServer(t)
	dex := harness.StartDex(t, harness.DexOptions{})
	admin := api.AdminClient(t)
	k := adminKubectl(t, api)
	ctx, cancel := context.WithTimeout(t.Context(), 4*time.Minute)
	defer cancel()
	const serviceAccountUser = "system:serviceaccount:team-a:argocd"
	if err := harness.CreateTeamNamespaces(ctx, admin, harness.TeamRBAC{
		TeamAUsers:  []string{dex.Users[0].Email, serviceAccountUser},
		TeamAGroups: []string{groupsPrefix + harness.MockGroups[0]},
	}); err != nil {
		api.Fatalf(t, "team RBAC: %v", err)
	}
	// alice may impersonate bob, who may read team-b; team-a/argocd reads team-a.
	setup := []byte(`apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: impersonate-bob}
rules:
- {apiGroups: [""], resources: [users], verbs: [impersonate], resourceNames: [bob]}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: alice-impersonates-bob}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: impersonate-bob}
subjects: [{apiGroup: rbac.authorization.k8s.io, kind: User, name: ` + dex.Users[0].Email + `}]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: bob-reads, namespace: team-b}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: ` + harness.TeamReaderRole + `}
subjects: [{apiGroup: rbac.authorization.k8s.io, kind: User, name: bob}]
---
apiVersion: v1
kind: ServiceAccount
metadata: {name: argocd, namespace: team-a}
`)
	if r := kubectlApply(ctx, k, setup); r.Err != nil {
		api.Fatalf(t, "setup: %s", r)
	}
	alice, err := dex.PasswordGrant(ctx, harness.DexClientID, dex.Users[0].Email, dex.Users[0].Password)
	if err != nil {
		dex.Fatalf(t, "%v", err)
	}
	aliceToken := harness.IDToken(alice)
	authorsToken := harness.IDToken(dex.MockLogin(ctx, t))
	argocdToken := api.ServiceAccountToken(t, "team-a", "argocd")

	tests := []struct {
		form, values, namespace, serviceAccount, binding string
	}{
		{form: "kustomize", namespace: "oidc-proxy", serviceAccount: "oidc-proxy", binding: "oidc-proxy"},
		{form: "helm", values: chartMinimalValues + "tokenPassthrough: {enabled: true}\nextraUserHeaderClientIP: true\n",
			namespace: "kube-oidc", serviceAccount: "oidc-oidc-proxy", binding: "oidc-oidc-proxy"},
	}
	for _, tt := range tests {
		t.Run(tt.form, func(t *testing.T) {
			manifests := renderShipped(t, tt.form, tt.values, tt.namespace)
			if tt.form != "kustomize" { // the chart installs into an existing namespace
				if r := kubectlApply(ctx, k, []byte("apiVersion: v1\nkind: Namespace\nmetadata: {name: "+tt.namespace+"}\n")); r.Err != nil {
					api.Fatalf(t, "namespace: %s", r)
				}
			}
			if r := kubectlApply(ctx, k, manifests); r.Err != nil {
				api.Fatalf(t, "kubectl apply: %s", r)
			}
			token := api.ServiceAccountToken(t, tt.namespace, tt.serviceAccount)
			proxy := harness.StartInClusterProxy(t, api, dex, tt.namespace, token, harness.ProxyOptions{
				GroupsPrefix: groupsPrefix,
				ExtraArgs:    []string{"--token-passthrough", "--extra-user-header-client-ip"},
			})
			env := &proxyEnv{api: api, dex: dex, proxy: proxy, admin: admin}

			for _, c := range []struct {
				who, token, namespace string
				as                    rest.ImpersonationConfig
				wantUser              string            // the API server's view (SelfSubjectReview)
				wantExtra             map[string]string // extras it must see
				wantForbidden         string            // "" allowed
			}{
				{who: "alice", token: aliceToken, namespace: "team-a", wantUser: dex.Users[0].Email,
					wantExtra: map[string]string{"remote-client-ip": "127.0.0.1"}},
				{who: "authors group", token: authorsToken, namespace: "team-a", wantUser: harness.MockUserEmail},
				{who: "alice", token: aliceToken, namespace: "team-b", wantForbidden: `User "alice@example.com" cannot list resource "configmaps"`},
				{who: "alice as bob", token: aliceToken, namespace: "team-b", as: rest.ImpersonationConfig{UserName: "bob"}, wantUser: "bob",
					wantExtra: map[string]string{"originaluser.jetstack.io-user": dex.Users[0].Email, "remote-client-ip": "127.0.0.1"}},
				{who: "alice as carol (not granted)", token: aliceToken, namespace: "team-a", as: rest.ImpersonationConfig{UserName: "carol"}, wantForbidden: `User "alice@example.com" cannot impersonate`},
				{who: "argocd's service-account token (passthrough)", token: argocdToken, namespace: "team-a", wantUser: serviceAccountUser},
			} {
				c2 := clientAs(t, env, c.token, c.as)
				_, err := c2.CoreV1().ConfigMaps(c.namespace).List(ctx, metav1.ListOptions{})
				switch {
				case c.wantForbidden == "" && err != nil:
					env.fatalf(t, "%s lists configmaps in %s through the in-cluster proxy: %v", c.who, c.namespace, err)
				case c.wantForbidden != "":
					if !apierrors.IsForbidden(err) || !strings.Contains(err.Error(), c.wantForbidden) {
						env.fatalf(t, "%s in %s: got %v, want 403 %q", c.who, c.namespace, err, c.wantForbidden)
					}
					continue
				}
				info := whoami(t, ctx, env, c2)
				if info.Username != c.wantUser {
					env.fatalf(t, "%s: the API server sees %q, want %q", c.who, info.Username, c.wantUser)
				}
				for k, v := range c.wantExtra {
					if !slices.Equal(info.Extra[k], []string{v}) {
						env.fatalf(t, "%s: extra %s = %q, want %q (all: %v)", c.who, k, info.Extra[k], v, info.Extra)
					}
				}
			}
			if code, _, body := env.rawGet(t, ctx, "/readyz?verbose", nil); code != http.StatusOK {
				env.fatalf(t, "in-cluster proxy not ready: %d %s", code, body)
			}

			// Without the shipped binding, the same request is refused: the
			// proxy's own identity cannot impersonate alice.
			if err := admin.RbacV1().ClusterRoleBindings().Delete(ctx, tt.binding, metav1.DeleteOptions{}); err != nil {
				api.Fatalf(t, "delete binding %s: %v", tt.binding, err)
			}
			var last error
			for ctx.Err() == nil {
				_, last = env.client(t, aliceToken).CoreV1().ConfigMaps("team-a").List(ctx, metav1.ListOptions{})
				if apierrors.IsForbidden(last) && strings.Contains(last.Error(), "cannot impersonate") {
					break
				}
				select {
				case <-ctx.Done():
				case <-time.After(200 * time.Millisecond): // RBAC informers apply the deletion within a moment
				}
			}
			if !apierrors.IsForbidden(last) || !strings.Contains(last.Error(), "cannot impersonate") {
				env.fatalf(t, "without the shipped binding: got %v, want 403 cannot impersonate", last)
			}
		})
	}
}
