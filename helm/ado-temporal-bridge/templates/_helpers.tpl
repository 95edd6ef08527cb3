{{/* Chart name, truncated to a DNS label. */}}
{{- define "atb.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Fully qualified app name; the release name when it already contains the chart name. */}}
{{- define "atb.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "atb.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "atb.selectorLabels" -}}
app.kubernetes.io/name: {{ include "atb.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "atb.labels" -}}
helm.sh/chart: {{ include "atb.chart" . }}
{{ include "atb.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: ado-temporal-bridge
{{- end }}

{{- define "atb.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "atb.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "atb.image" -}}
{{- $tag := default .Chart.AppVersion .Values.image.tag -}}
{{- if .Values.image.digest -}}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest -}}
{{- else -}}
{{- printf "%s:%s" .Values.image.repository $tag -}}
{{- end -}}
{{- end }}

{{/* true when the chart runs a StatefulSet (durable spool). */}}
{{- define "atb.durable" -}}
{{- if eq .Values.bridge.delivery "durable" }}true{{ end }}
{{- end }}

{{- define "atb.headlessServiceName" -}}
{{- printf "%s-headless" (include "atb.fullname" .) | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "atb.adminServiceName" -}}
{{- printf "%s-admin" (include "atb.fullname" .) | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "atb.rulesConfigMapName" -}}
{{- if .Values.existingRulesConfigMap }}
{{- .Values.existingRulesConfigMap }}
{{- else if .Values.rules }}
{{- printf "%s-rules" (include "atb.fullname" .) | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}

{{/* Whether the admin Service is rendered. */}}
{{- define "atb.adminServiceEnabled" -}}
{{- if and .Values.bridge.admin.enabled (or .Values.adminService.enabled .Values.serviceMonitor.enabled) }}true{{ end }}
{{- end }}

{{/* Temporal port, from bridge.temporal.address (default 7233). */}}
{{- define "atb.temporalPort" -}}
{{- $m := regexFind ":[0-9]+$" .Values.bridge.temporal.address }}
{{- if $m }}{{ trimPrefix ":" $m }}{{ else }}7233{{ end }}
{{- end }}

{{/* Key Vault client ID: explicit, else the workload identity's. */}}
{{- define "atb.keyVaultClientId" -}}
{{- default .Values.azureWorkloadIdentity.clientId .Values.secrets.keyVault.clientId }}
{{- end }}

{{/* Cross-value checks the JSON schema cannot express. */}}
{{- define "atb.validate" -}}
{{- if and .Values.autoscaling.enabled (ne .Values.bridge.delivery "direct") }}
{{- fail "autoscaling.enabled needs bridge.delivery=direct: in durable mode each pod owns a spool volume, so the replica count must not be changed by an HPA" }}
{{- end }}
{{- if and .Values.azureWorkloadIdentity.enabled (not .Values.azureWorkloadIdentity.clientId) }}
{{- fail "azureWorkloadIdentity.enabled needs azureWorkloadIdentity.clientId" }}
{{- end }}
{{- if and .Values.azureWorkloadIdentity.enabled (not .Values.serviceAccount.create) }}
{{- fail "azureWorkloadIdentity.enabled needs serviceAccount.create=true (the chart annotates its own ServiceAccount); for an existing ServiceAccount annotate it yourself and set podLabels" }}
{{- end }}
{{- if eq .Values.secrets.provider "existingSecret" }}
{{- if not .Values.secrets.existingSecret.name }}
{{- fail "secrets.provider=existingSecret needs secrets.existingSecret.name" }}
{{- end }}
{{- end }}
{{- if eq .Values.secrets.provider "keyVault" }}
{{- if not .Values.secrets.keyVault.name }}
{{- fail "secrets.provider=keyVault needs secrets.keyVault.name (the Key Vault name)" }}
{{- end }}
{{- if not .Values.secrets.keyVault.tenantId }}
{{- fail "secrets.provider=keyVault needs secrets.keyVault.tenantId" }}
{{- end }}
{{- if not (include "atb.keyVaultClientId" .) }}
{{- fail "secrets.provider=keyVault needs secrets.keyVault.clientId or azureWorkloadIdentity.clientId (workload identity)" }}
{{- end }}
{{- if not .Values.secrets.keyVault.objects }}
{{- fail "secrets.provider=keyVault needs at least one secrets.keyVault.objects entry" }}
{{- end }}
{{- end }}
{{- if and .Values.ingress.enabled (not .Values.ingress.hosts) }}
{{- fail "ingress.enabled needs at least one ingress.hosts entry" }}
{{- end }}
{{- if and .Values.bridge.temporal.apiKey.existingSecret .Values.bridge.temporal.apiKey.file }}
{{- fail "set bridge.temporal.apiKey.existingSecret or bridge.temporal.apiKey.file, not both" }}
{{- end }}
{{- with .Values.bridge.admin.token }}
{{- if and .existingSecret .file }}
{{- fail "set bridge.admin.token.existingSecret or bridge.admin.token.file, not both" }}
{{- end }}
{{- end }}
{{- $token := .Values.bridge.admin.token }}
{{- if and (or $token.existingSecret $token.file) (not .Values.bridge.admin.enabled) .Values.ingress.enabled }}
{{- range .Values.ingress.hosts }}
{{- range .paths }}
{{- if not (hasPrefix "/webhooks" .path) }}
{{- fail (printf "ingress path %q would publish the admin API: with an admin token keep bridge.admin.enabled=true (admin API on its own port) or route only /webhooks" .path) }}
{{- end }}
{{- end }}
{{- end }}
{{- end }}
{{- $extra := .Values.bridge.extraConfig }}
{{- range $key, $value := dict "listen" "bridge.port and bridge.listenHost" "adminListen" "bridge.admin.enabled and bridge.admin.port" "dataDir" "bridge.dataDir" "delivery" "bridge.delivery" "mappings" "rules, existingRulesConfigMap or bridge.extraMappings" "sources" "bridge.sources" }}
{{- if hasKey $extra $key }}
{{- fail (printf "bridge.extraConfig.%s is set by the chart (it decides volumes, ports or the workload kind); use %s" $key $value) }}
{{- end }}
{{- end }}
{{- if hasKey $extra "tls" }}
{{- fail "bridge.extraConfig.tls: this chart serves plain HTTP on the webhook port (its probes, Service and Ingress expect it); terminate TLS at the Ingress" }}
{{- end }}
{{- range $section, $key := dict "admin" "token" "temporal" "apiKey" }}
{{- $part := get $extra $section }}
{{- $v := "" }}
{{- if kindIs "map" $part }}{{ $v = get $part $key }}{{ end }}
{{- if and $v (not (regexMatch "^\\$\\{[A-Za-z_][A-Za-z0-9_]*\\}$" (toString $v))) }}
{{- fail (printf "bridge.extraConfig.%s.%s: only an environment reference such as ${NAME} (config.yaml is a ConfigMap); use bridge.%s" $section $key (ternary "admin.token" "temporal.apiKey" (eq $section "admin"))) }}
{{- end }}
{{- end }}
{{- $mount := printf "%s/" (trimSuffix "/" .Values.secrets.mountPath) }}
{{- $fetched := list }}
{{- range .Values.secrets.keyVault.objects }}{{ $fetched = append $fetched (default .name .alias) }}{{ end }}
{{- range $field, $path := include "atb.secretFiles" . | fromJson }}
{{- if hasPrefix $mount $path }}
{{- if eq $.Values.secrets.provider "none" }}
{{- fail (printf "%s %s lies under secrets.mountPath, but secrets.provider is none: nothing is mounted there" $field $path) }}
{{- else if and (eq $.Values.secrets.provider "keyVault") (not (has (trimPrefix $mount $path) $fetched)) }}
{{- fail (printf "%s %s: no secrets.keyVault.objects entry is named (or aliased) %q" $field $path (trimPrefix $mount $path)) }}
{{- end }}
{{- end }}
{{- end }}
{{- if and .Values.existingRulesConfigMap .Values.rules }}
{{- fail "set either rules or existingRulesConfigMap, not both" }}
{{- end }}
{{- if and .Values.bridge.admin.enabled (eq (int .Values.bridge.admin.port) (int .Values.bridge.port)) }}
{{- fail "bridge.admin.port must differ from bridge.port" }}
{{- end }}
{{- $names := list }}
{{- range .Values.bridge.sources }}
{{- if has .name $names }}
{{- fail (printf "bridge.sources: source name %q is used twice" .name) }}
{{- end }}
{{- $names = append $names .name }}
{{- end }}
{{- end }}

{{/* The bridge's config.yaml, as a YAML document. */}}
{{- define "atb.config" -}}
{{- $b := .Values.bridge -}}
{{- $temporal := dict "address" $b.temporal.address "namespace" $b.temporal.namespace -}}
{{- if $b.temporal.apiKey.existingSecret -}}
{{- $_ := set $temporal "apiKey" "${TEMPORAL_API_KEY}" -}}
{{- else if $b.temporal.apiKey.file -}}
{{- $_ := set $temporal "apiKeyFile" $b.temporal.apiKey.file -}}
{{- end -}}
{{- if $b.temporal.tls.enabled -}}
{{- $tls := dict "enabled" true -}}
{{- if $b.temporal.tls.existingSecret -}}
{{- if $b.temporal.tls.caKey }}{{ $_ := set $tls "caFile" "/etc/ado-temporal-bridge/temporal-tls/ca.crt" }}{{ end -}}
{{- if $b.temporal.tls.certKey }}{{ $_ := set $tls "certFile" "/etc/ado-temporal-bridge/temporal-tls/tls.crt" }}{{ end -}}
{{- if $b.temporal.tls.keyKey }}{{ $_ := set $tls "keyFile" "/etc/ado-temporal-bridge/temporal-tls/tls.key" }}{{ end -}}
{{- end -}}
{{- if $b.temporal.tls.serverName }}{{ $_ := set $tls "serverName" $b.temporal.tls.serverName }}{{ end -}}
{{- $_ := set $temporal "tls" $tls -}}
{{- end -}}
{{- if $b.temporal.uiUrl }}{{ $_ := set $temporal "uiUrl" $b.temporal.uiUrl }}{{ end -}}
{{- $cfg := dict
    "listen" (printf "%s:%d" (include "atb.bindHost" $b.listenHost) (int $b.port))
    "temporal" $temporal
    "mappings" (concat (list "/etc/ado-temporal-bridge/rules") $b.extraMappings)
    "dataDir" $b.dataDir
    "delivery" $b.delivery
    "log" (dict "format" $b.log.format "level" $b.log.level)
    "sources" $b.sources -}}
{{- if $b.admin.enabled -}}
{{- $_ := set $cfg "adminListen" (printf "%s:%d" (include "atb.bindHost" $b.listenHost) (int $b.admin.port)) -}}
{{- end -}}
{{- if $b.admin.token.existingSecret -}}
{{- $_ := set $cfg "admin" (dict "token" "${ADMIN_TOKEN}") -}}
{{- else if $b.admin.token.file -}}
{{- $_ := set $cfg "admin" (dict "tokenFile" $b.admin.token.file) -}}
{{- end -}}
{{- $spool := dict -}}
{{- with $b.spool -}}
{{- if not (kindIs "invalid" .maxPending) }}{{ $_ := set $spool "maxPending" (int64 .maxPending) }}{{ end -}}
{{- if .fastPathWait }}{{ $_ := set $spool "fastPathWait" .fastPathWait }}{{ end -}}
{{- if not (kindIs "invalid" .maxAttempts) }}{{ $_ := set $spool "maxAttempts" (int64 .maxAttempts) }}{{ end -}}
{{- if .maxBackoff }}{{ $_ := set $spool "maxBackoff" .maxBackoff }}{{ end -}}
{{- if not (kindIs "invalid" .groupCommit) }}{{ $_ := set $spool "groupCommit" .groupCommit }}{{ end -}}
{{- end -}}
{{- if $spool }}{{ $_ := set $cfg "spool" $spool }}{{ end -}}
{{- $limits := dict -}}
{{- if $b.shutdownTimeout }}{{ $_ := set $limits "shutdownTimeout" $b.shutdownTimeout }}{{ end -}}
{{- if not (kindIs "invalid" $b.maxConcurrentRequests) }}{{ $_ := set $limits "maxConcurrentRequests" (int64 $b.maxConcurrentRequests) }}{{ end -}}
{{- if $b.ruleTimeout }}{{ $_ := set $limits "ruleTimeout" $b.ruleTimeout }}{{ end -}}
{{- if $limits }}{{ $_ := set $cfg "limits" $limits }}{{ end -}}
{{- if not (kindIs "invalid" $b.workerThreads) }}{{ $_ := set $cfg "workerThreads" (int64 $b.workerThreads) }}{{ end -}}
{{- if $b.schedulerSlice }}{{ $_ := set $cfg "schedulerSlice" $b.schedulerSlice }}{{ end -}}
{{- $cfg = mergeOverwrite $cfg (deepCopy $b.extraConfig) -}}
{{- toYaml $cfg }}
{{- end }}

{{/* IPv6 hosts need brackets in host:port. */}}
{{- define "atb.bindHost" -}}
{{- if contains ":" . }}{{ printf "[%s]" (trimAll "[]" .) }}{{ else }}{{ . }}{{ end }}
{{- end }}

{{/* Rendered rules ConfigMap data. */}}
{{- define "atb.rulesData" -}}
{{- range $file, $content := .Values.rules }}
{{ $file }}: |
{{- if kindIs "string" $content }}
{{ $content | trimSuffix "\n" | indent 2 }}
{{- else }}
{{ toYaml $content | indent 2 }}
{{- end }}
{{- end }}
{{- end }}

{{/* Files with secrets that config.yaml names, as JSON {"value path": "file"}. */}}
{{- define "atb.secretFiles" -}}
{{- $files := dict }}
{{- with .Values.bridge.admin.token.file }}{{ $_ := set $files "bridge.admin.token.file" . }}{{ end }}
{{- with .Values.bridge.temporal.apiKey.file }}{{ $_ := set $files "bridge.temporal.apiKey.file" . }}{{ end }}
{{- range $i, $s := .Values.bridge.sources }}
{{- range $scheme, $key := dict "basic" "passwordFile" "header" "valueFile" "hmac" "secretFile" "standardWebhooks" "secretFile" }}
{{- with dig "auth" $scheme $key "" $s }}{{ $_ := set $files (printf "bridge.sources[%d].auth.%s.%s" $i $scheme $key) . }}{{ end }}
{{- end }}
{{- end }}
{{- toJson $files }}
{{- end }}

{{/*
Where a webhook secret comes from, for NOTES.txt:
(dict "root" $ "file" "/mnt/secrets/x" "refs" (list "${VAR}" ...)).
*/}}
{{- define "atb.secretOrigin" -}}
{{- $root := .root -}}
{{- $parts := list -}}
{{- with .file -}}
{{- $p := printf "the content of %s" . -}}
{{- if hasPrefix $root.Values.secrets.mountPath . -}}
{{- if eq $root.Values.secrets.provider "keyVault" }}{{ $p = printf "%s (Key Vault object %s)" $p (base .) }}
{{- else if eq $root.Values.secrets.provider "existingSecret" }}{{ $p = printf "%s (key %s of Secret %s)" $p (base .) $root.Values.secrets.existingSecret.name }}{{ end -}}
{{- end -}}
{{- $parts = append $parts $p -}}
{{- end -}}
{{- range .refs -}}
{{- $var := trimSuffix "}" (trimPrefix "${" .) -}}
{{- $p := printf "env %s" $var -}}
{{- range $root.Values.secrets.env }}{{ if eq .name $var }}{{ $p = printf "%s (key %s of Secret %s)" $p .key .secretName }}{{ end }}{{ end -}}
{{- $parts = append $parts $p -}}
{{- end -}}
{{- join " or " $parts -}}
{{- end }}

{{/* Names of the Kubernetes Secrets the pods read, one per line. */}}
{{- define "atb.secretNames" -}}
{{- $names := list }}
{{- if eq .Values.secrets.provider "existingSecret" }}{{ $names = append $names .Values.secrets.existingSecret.name }}{{ end }}
{{- if eq .Values.secrets.provider "keyVault" }}
{{- range .Values.secrets.keyVault.syncSecrets }}{{ $names = append $names .secretName }}{{ end }}
{{- end }}
{{- range .Values.secrets.env }}{{ $names = append $names .secretName }}{{ end }}
{{- with .Values.bridge.temporal.apiKey.existingSecret }}{{ $names = append $names . }}{{ end }}
{{- with .Values.bridge.admin.token.existingSecret }}{{ $names = append $names . }}{{ end }}
{{- if .Values.bridge.temporal.tls.enabled }}{{ with .Values.bridge.temporal.tls.existingSecret }}{{ $names = append $names . }}{{ end }}{{ end }}
{{- $names | compact | uniq | sortAlpha | join "\n" }}
{{- end }}

{{/*
sha256 over the identity and resourceVersion of every Secret the pods read,
as found in the cluster at install/upgrade time (no secret content is
hashed). Empty when none can be looked up (helm template, --dry-run).
*/}}
{{- define "atb.secretsChecksum" -}}
{{- $seen := list }}
{{- range splitList "\n" (include "atb.secretNames" .) }}
{{- if . }}
{{- $s := lookup "v1" "Secret" $.Release.Namespace . }}
{{- if $s }}
{{- $seen = append $seen (printf "%s/%s/%s" . (dig "metadata" "uid" "" $s) (dig "metadata" "resourceVersion" "" $s)) }}
{{- end }}
{{- end }}
{{- end }}
{{- if $seen }}{{ $seen | join "," | sha256sum }}{{ end }}
{{- end }}
