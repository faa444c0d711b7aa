{{- define "oidc-proxy.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "oidc-proxy.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{- define "oidc-proxy.selectorLabels" -}}
app.kubernetes.io/name: {{ include "oidc-proxy.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "oidc-proxy.labels" -}}
{{ include "oidc-proxy.selectorLabels" . }}
app.kubernetes.io/version: {{ .Values.image.tag | default .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: kube-oidc
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{- end -}}

{{- define "oidc-proxy.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "oidc-proxy.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- required "serviceAccount.name is required when serviceAccount.create is false" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{- define "oidc-proxy.tlsSecretName" -}}
{{- default (printf "%s-tls" (include "oidc-proxy.fullname" .)) .Values.tls.secretName -}}
{{- end -}}

{{- define "oidc-proxy.useAuthenticationConfig" -}}
{{- if .Values.authenticationConfig }}true{{ end -}}
{{- end -}}

{{/*
Conflicting or incomplete values fail here, at render time, with the reason.
*/}}
{{- define "oidc-proxy.validate" -}}
{{- $oidc := .Values.oidc -}}
{{- $oidcSet := or $oidc.issuerUrl $oidc.clientId $oidc.caPEM $oidc.usernameClaim $oidc.usernamePrefix $oidc.groupsClaim $oidc.groupsPrefix $oidc.requiredClaims $oidc.signingAlgs -}}
{{- if and .Values.authenticationConfig $oidcSet -}}
{{- fail "oidc-proxy: oidc.* and authenticationConfig are mutually exclusive: set one of them" -}}
{{- end -}}
{{- if not (or .Values.authenticationConfig $oidc.issuerUrl $oidc.clientId) -}}
{{- fail "oidc-proxy: set oidc.issuerUrl and oidc.clientId (your issuer, see docs/issuers/), or authenticationConfig" -}}
{{- end -}}
{{- if and (not .Values.authenticationConfig) (not (and $oidc.issuerUrl $oidc.clientId)) -}}
{{- fail "oidc-proxy: oidc.issuerUrl and oidc.clientId must be set together" -}}
{{- end -}}
{{- if and $oidc.issuerUrl (not (hasPrefix "https://" $oidc.issuerUrl)) -}}
{{- fail "oidc-proxy: oidc.issuerUrl must be an https URL" -}}
{{- end -}}
{{- if and (not .Values.authenticationConfig) $oidc.groupsPrefix (not $oidc.groupsClaim) -}}
{{- fail "oidc-proxy: oidc.groupsPrefix needs oidc.groupsClaim" -}}
{{- end -}}
{{- if .Values.authenticationConfig -}}
{{- if not .Values.authenticationConfig.jwt -}}
{{- fail "oidc-proxy: authenticationConfig needs at least one jwt issuer" -}}
{{- end -}}
{{- end -}}
{{- if and .Values.tls.selfSigned (or .Values.tls.certManager.enabled .Values.tls.secretName) -}}
{{- fail "oidc-proxy: tls.selfSigned conflicts with tls.secretName and tls.certManager" -}}
{{- end -}}
{{- if .Values.tls.certManager.enabled -}}
{{- if not .Values.tls.certManager.issuerRef.name -}}
{{- fail "oidc-proxy: tls.certManager.issuerRef.name is required with tls.certManager.enabled" -}}
{{- end -}}
{{- end -}}
{{- if .Values.disableImpersonation -}}
{{- if and .Values.authenticationConfig .Values.authenticationConfig.anonymous .Values.authenticationConfig.anonymous.enabled -}}
{{- fail "oidc-proxy: authenticationConfig.anonymous needs impersonation (system:anonymous is impersonated); it conflicts with disableImpersonation" -}}
{{- end -}}
{{- if or .Values.impersonation.originalUserExtraPrefix .Values.impersonation.reviewTimeout -}}
{{- fail "oidc-proxy: impersonation.* settings conflict with disableImpersonation (client Impersonate-* headers then go to the API server as they are)" -}}
{{- end -}}
{{- if or .Values.extraUserHeaders .Values.extraUserHeaderClientIP -}}
{{- fail "oidc-proxy: extraUserHeaders and extraUserHeaderClientIP need impersonation; they conflict with disableImpersonation" -}}
{{- end -}}
{{- end -}}
{{- if and .Values.proxyProtocol.enabled (not .Values.proxyProtocol.trustedCIDRs) -}}
{{- fail "oidc-proxy: proxyProtocol.enabled needs proxyProtocol.trustedCIDRs (your load balancers' addresses)" -}}
{{- end -}}
{{- if and .Values.proxyProtocol.enabled (not .Values.readinessProbePort) -}}
{{- fail "oidc-proxy: proxyProtocol.enabled needs readinessProbePort: the kubelet's probes cannot use the secure port" -}}
{{- end -}}
{{- if and .Values.tokenPassthrough.audiences (not .Values.tokenPassthrough.enabled) -}}
{{- fail "oidc-proxy: tokenPassthrough.audiences is set but tokenPassthrough.enabled is false" -}}
{{- end -}}
{{- if and .Values.audit.webhookConfig (not .Values.audit.enabled) -}}
{{- fail "oidc-proxy: audit.webhookConfig needs audit.enabled" -}}
{{- end -}}
{{- if and .Values.ingress.enabled (not .Values.ingress.hosts) -}}
{{- fail "oidc-proxy: ingress.enabled needs ingress.hosts" -}}
{{- end -}}
{{- if and .Values.service.nodePort (not (or (eq .Values.service.type "NodePort") (eq .Values.service.type "LoadBalancer"))) -}}
{{- fail "oidc-proxy: service.nodePort needs service.type NodePort or LoadBalancer" -}}
{{- end -}}
{{- if and .Values.authenticationConfig .Values.discovery.clientId (not .Values.discovery.issuerUrl) -}}
{{- fail "oidc-proxy: discovery.clientId with authenticationConfig needs discovery.issuerUrl" -}}
{{- end -}}
{{- with .Values.web -}}
{{- if .enabled -}}
{{- if not $.Values.discovery.clientId -}}
{{- fail "oidc-proxy: web.enabled needs discovery.clientId (the page hands out the discovery document's setup command and kubeconfig)" -}}
{{- end -}}
{{- if not (and .clientId .redirectUrl .clientSecret.secretName) -}}
{{- fail "oidc-proxy: web.enabled needs web.clientId, web.redirectUrl and web.clientSecret.secretName" -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/*
The userextras/KEY the proxy sets, sorted: the real user's identity when a
user impersonates someone (kubectl --as), the client IP, extraUserHeaders,
authenticationConfig's claimMappings.extra, and rbac.extraUserExtras.
*/}}
{{- define "oidc-proxy.userExtras" -}}
{{- $p := .Values.impersonation.originalUserExtraPrefix | default "originaluser.jetstack.io-" -}}
{{- $keys := list "authentication.kubernetes.io/credential-id" (print $p "user") (print $p "groups") (print $p "uid") (print $p "extra") -}}
{{- if .Values.extraUserHeaderClientIP -}}{{- $keys = append $keys "remote-client-ip" -}}{{- end -}}
{{- range $k, $v := .Values.extraUserHeaders -}}{{- $keys = append $keys $k -}}{{- end -}}
{{- range $jwt := (.Values.authenticationConfig.jwt | default list) -}}
{{- range $e := ((($jwt.claimMappings | default dict).extra) | default list) -}}{{- $keys = append $keys $e.key -}}{{- end -}}
{{- end -}}
{{- range .Values.rbac.extraUserExtras -}}{{- $keys = append $keys . -}}{{- end -}}
{{- range $k := ($keys | uniq | sortAlpha) }}
- userextras/{{ $k }}
{{- end -}}
{{- end -}}

{{/*
The container's args, as a YAML list (every value quoted by toYaml).
*/}}
{{- define "oidc-proxy.args" -}}
{{- $v := .Values -}}
{{- $a := list "--secure-port=6443" -}}
{{- if $v.tls.selfSigned -}}
{{- $a = append $a "--cert-dir=/var/run/oidc-proxy/certs" -}}
{{- else -}}
{{- $a = concat $a (list "--tls-cert-file=/etc/oidc-proxy/tls/tls.crt" "--tls-private-key-file=/etc/oidc-proxy/tls/tls.key") -}}
{{- end -}}
{{- if $v.issuerClientCert.secretName -}}
{{- $a = concat $a (list "--oidc-client-cert-file=/etc/oidc-proxy/issuer-client/tls.crt" "--oidc-client-key-file=/etc/oidc-proxy/issuer-client/tls.key") -}}
{{- end -}}
{{- if $v.authenticationConfig -}}
{{- $a = append $a "--authentication-config=/etc/oidc-proxy/authentication/config.yaml" -}}
{{- else -}}
{{- $o := $v.oidc -}}
{{- $a = append $a (printf "--oidc-issuer-url=%s" $o.issuerUrl) -}}
{{- $a = append $a (printf "--oidc-client-id=%s" $o.clientId) -}}
{{- if $o.caPEM }}{{ $a = append $a "--oidc-ca-file=/etc/oidc-proxy/oidc-ca/ca.crt" }}{{ end -}}
{{- with $o.usernameClaim }}{{ $a = append $a (printf "--oidc-username-claim=%s" .) }}{{ end -}}
{{- with $o.usernamePrefix }}{{ $a = append $a (printf "--oidc-username-prefix=%s" .) }}{{ end -}}
{{- with $o.groupsClaim }}{{ $a = append $a (printf "--oidc-groups-claim=%s" .) }}{{ end -}}
{{- with $o.groupsPrefix }}{{ $a = append $a (printf "--oidc-groups-prefix=%s" .) }}{{ end -}}
{{- range $k := (keys $o.requiredClaims | sortAlpha) }}{{ $a = append $a (printf "--oidc-required-claim=%s=%s" $k (index $o.requiredClaims $k)) }}{{ end -}}
{{- with $o.signingAlgs }}{{ $a = append $a (printf "--oidc-signing-algs=%s" (join "," .)) }}{{ end -}}
{{- end -}}
{{- with $v.tokenCacheTTL }}{{ $a = append $a (printf "--token-cache-ttl=%s" .) }}{{ end -}}
{{- if $v.allowSystemIdentities }}{{ $a = append $a "--allow-system-identities" }}{{ end -}}
{{- if $v.tokenPassthrough.enabled -}}
{{- $a = append $a "--token-passthrough" -}}
{{- with $v.tokenPassthrough.audiences }}{{ $a = append $a (printf "--token-passthrough-audiences=%s" (join "," .)) }}{{ end -}}
{{- end -}}
{{- if $v.disableImpersonation }}{{ $a = append $a "--disable-impersonation" }}{{ end -}}
{{- with $v.extraUserHeaders -}}
{{- $pairs := list -}}
{{- range $k := (keys . | sortAlpha) }}{{ $pairs = append $pairs (printf "%s=%s" $k (index $v.extraUserHeaders $k)) }}{{ end -}}
{{- $a = append $a (printf "--extra-user-headers=%s" (join "," $pairs)) -}}
{{- end -}}
{{- if $v.extraUserHeaderClientIP }}{{ $a = append $a "--extra-user-header-client-ip" }}{{ end -}}
{{- with $v.trustedProxyCIDRs }}{{ $a = append $a (printf "--trusted-proxy-cidrs=%s" (join "," .)) }}{{ end -}}
{{- if $v.proxyProtocol.enabled }}{{ $a = concat $a (list "--proxy-protocol" (printf "--proxy-protocol-trusted-cidrs=%s" (join "," $v.proxyProtocol.trustedCIDRs))) }}{{ end -}}
{{- with $v.impersonation.originalUserExtraPrefix }}{{ $a = append $a (printf "--impersonation-original-user-extra-prefix=%s" .) }}{{ end -}}
{{- with $v.impersonation.reviewTimeout }}{{ $a = append $a (printf "--impersonation-review-timeout=%s" .) }}{{ end -}}
{{- if $v.audit.enabled -}}
{{- $au := $v.audit -}}
{{- $a = append $a "--audit-policy-file=/etc/oidc-proxy/audit/policy.yaml" -}}
{{- $a = append $a (printf "--audit-log-path=%s" $au.logPath) -}}
{{- $a = append $a (printf "--audit-log-format=%s" $au.logFormat) -}}
{{- if $au.logMaxAge }}{{ $a = append $a (printf "--audit-log-maxage=%v" $au.logMaxAge) }}{{ end -}}
{{- if $au.logMaxBackup }}{{ $a = append $a (printf "--audit-log-maxbackup=%v" $au.logMaxBackup) }}{{ end -}}
{{- if $au.logMaxSize }}{{ $a = append $a (printf "--audit-log-maxsize=%v" $au.logMaxSize) }}{{ end -}}
{{- if $au.webhookConfig }}{{ $a = append $a "--audit-webhook-config-file=/etc/oidc-proxy/audit-webhook/kubeconfig" }}{{ end -}}
{{- end -}}
{{- with $v.discovery -}}
{{- if .clientId -}}
{{- $a = append $a (printf "--discovery-client-id=%s" .clientId) -}}
{{- with .issuerUrl }}{{ $a = append $a (printf "--discovery-issuer-url=%s" .) }}{{ end -}}
{{- with .scopes }}{{ $a = append $a (printf "--discovery-scopes=%s" (join "," .)) }}{{ end -}}
{{- with .grantTypes }}{{ $a = append $a (printf "--discovery-grant-types=%s" (join "," .)) }}{{ end -}}
{{- with .clusterName }}{{ $a = append $a (printf "--discovery-cluster-name=%s" .) }}{{ end -}}
{{- if .caPEM }}{{ $a = append $a "--discovery-ca-file=/etc/oidc-proxy/discovery-ca/ca.crt" }}{{ end -}}
{{- end -}}
{{- end -}}
{{- if $v.web.enabled -}}
{{- $a = append $a (printf "--web-client-id=%s" $v.web.clientId) -}}
{{- $a = append $a "--web-client-secret-file=/etc/oidc-proxy/web/client-secret" -}}
{{- $a = append $a (printf "--web-redirect-url=%s" $v.web.redirectUrl) -}}
{{- with $v.web.extraScopes }}{{ $a = append $a (printf "--web-extra-scopes=%s" (join "," .)) }}{{ end -}}
{{- end -}}
{{- $a = append $a (printf "--readiness-probe-port=%v" $v.readinessProbePort) -}}
{{- $a = append $a (printf "--metrics-serving-address=:%v" $v.metrics.port) -}}
{{- $a = append $a (printf "--shutdown-delay-duration=%vs" $v.shutdownDelaySeconds) -}}
{{- $a = append $a (printf "--log-format=%s" $v.logging.format) -}}
{{- if $v.tracing.enabled -}}
{{- $a = append $a "--tracing-config-file=/etc/oidc-proxy/tracing/config.yaml" -}}
{{- $a = append $a (printf "--tracing-protocol=%s" $v.tracing.protocol) -}}
{{- end -}}
{{- if $v.logging.verbosity }}{{ $a = append $a (printf "--v=%v" $v.logging.verbosity) }}{{ end -}}
{{- $a = concat $a $v.extraArgs -}}
{{- toYaml $a -}}
{{- end -}}
