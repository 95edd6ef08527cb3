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
{{- if $b.shutdownTimeout }}{{ $_ := set $cfg "limits" (dict "shutdownTimeout" $b.shutdownTimeout) }}{{ end -}}
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
