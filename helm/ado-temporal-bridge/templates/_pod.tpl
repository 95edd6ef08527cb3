{{/* Pod template shared by the StatefulSet (durable) and the Deployment (direct). */}}
{{- define "atb.podTemplate" -}}
metadata:
  annotations:
    checksum/config: {{ include (print .Template.BasePath "/configmap.yaml") . | sha256sum }}
    {{- if eq .Values.secrets.provider "keyVault" }}
    checksum/secret-provider-class: {{ include (print .Template.BasePath "/secretproviderclass.yaml") . | sha256sum }}
    {{- end }}
    {{- if .Values.secrets.rollOnChange }}
    {{- with include "atb.secretsChecksum" . }}
    checksum/secrets: {{ . }}
    {{- end }}
    {{- end }}
    {{- with .Values.podAnnotations }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
  labels:
    {{- include "atb.selectorLabels" . | nindent 4 }}
    app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
    {{- if .Values.azureWorkloadIdentity.enabled }}
    azure.workload.identity/use: "true"
    {{- end }}
    {{- with .Values.podLabels }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
spec:
  serviceAccountName: {{ include "atb.serviceAccountName" . }}
  automountServiceAccountToken: {{ .Values.serviceAccount.automountServiceAccountToken }}
  enableServiceLinks: false
  {{- with .Values.imagePullSecrets }}
  imagePullSecrets:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- with .Values.priorityClassName }}
  priorityClassName: {{ . }}
  {{- end }}
  securityContext:
    {{- toYaml .Values.podSecurityContext | nindent 4 }}
  terminationGracePeriodSeconds: {{ .Values.terminationGracePeriodSeconds }}
  containers:
    - name: bridge
      image: {{ include "atb.image" . | quote }}
      imagePullPolicy: {{ .Values.image.pullPolicy }}
      args:
        - serve
        - --config
        - /etc/ado-temporal-bridge/config.yaml
      ports:
        - name: http
          containerPort: {{ .Values.bridge.port }}
          protocol: TCP
        {{- if .Values.bridge.admin.enabled }}
        - name: admin
          containerPort: {{ .Values.bridge.admin.port }}
          protocol: TCP
        {{- end }}
      {{- $env := list }}
      {{- if .Values.bridge.temporal.apiKey.existingSecret }}
      {{- $env = append $env (dict "name" "TEMPORAL_API_KEY" "valueFrom" (dict "secretKeyRef" (dict "name" .Values.bridge.temporal.apiKey.existingSecret "key" .Values.bridge.temporal.apiKey.key))) }}
      {{- end }}
      {{- with .Values.bridge.admin.token }}
      {{- if .existingSecret }}
      {{- $env = append $env (dict "name" "ADMIN_TOKEN" "valueFrom" (dict "secretKeyRef" (dict "name" .existingSecret "key" .key))) }}
      {{- end }}
      {{- end }}
      {{- with .Values.otel.endpoint }}
      {{- $env = append $env (dict "name" "OTEL_EXPORTER_OTLP_ENDPOINT" "value" .) }}
      {{- $env = append $env (dict "name" "OTEL_SERVICE_NAME" "value" (default (include "atb.fullname" $) $.Values.otel.serviceName)) }}
      {{- end }}
      {{- with .Values.otel.tracesSampler }}
      {{- $env = append $env (dict "name" "OTEL_TRACES_SAMPLER" "value" .) }}
      {{- end }}
      {{- range .Values.secrets.env }}
      {{- $ref := dict "name" .secretName "key" .key }}
      {{- if hasKey . "optional" }}{{ $_ := set $ref "optional" .optional }}{{ end }}
      {{- $env = append $env (dict "name" .name "valueFrom" (dict "secretKeyRef" $ref)) }}
      {{- end }}
      {{- $env = concat $env .Values.extraEnv }}
      {{- $seen := list }}
      {{- range $env }}
      {{- if has .name (list "BRIDGE_CONFIG" "BRIDGE_LISTEN" "BRIDGE_DATA_DIR" "BRIDGE_DELIVERY") }}
      {{- fail (printf "env %s would override what the chart wires (config path, ports, dataDir volume, workload kind); use the bridge.* values" .name) }}
      {{- end }}
      {{- if has .name $seen }}
      {{- fail (printf "env %s is set twice (extraEnv, secrets.env or a value of the chart)" .name) }}
      {{- end }}
      {{- $seen = append $seen .name }}
      {{- end }}
      {{- with $env }}
      env:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      {{- with .Values.extraEnvFrom }}
      envFrom:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      startupProbe:
        httpGet:
          path: /healthz
          port: http
        {{- toYaml .Values.probes.startup | nindent 8 }}
      livenessProbe:
        httpGet:
          path: /healthz
          port: http
        {{- toYaml .Values.probes.liveness | nindent 8 }}
      readinessProbe:
        httpGet:
          path: /readyz
          port: http
        {{- toYaml .Values.probes.readiness | nindent 8 }}
      {{- with .Values.lifecycle }}
      lifecycle:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      resources:
        {{- toYaml .Values.resources | nindent 8 }}
      securityContext:
        {{- toYaml .Values.securityContext | nindent 8 }}
      volumeMounts:
        - name: config
          mountPath: /etc/ado-temporal-bridge/config.yaml
          subPath: config.yaml
          readOnly: true
        {{- if include "atb.rulesConfigMapName" . }}
        - name: rules
          mountPath: /etc/ado-temporal-bridge/rules
          readOnly: true
        {{- end }}
        - name: data
          mountPath: {{ .Values.bridge.dataDir }}
        {{- if .Values.tmpVolume.enabled }}
        - name: tmp
          mountPath: /tmp
        {{- end }}
        {{- if ne .Values.secrets.provider "none" }}
        - name: secrets
          mountPath: {{ .Values.secrets.mountPath }}
          readOnly: true
        {{- end }}
        {{- if and .Values.bridge.temporal.tls.enabled .Values.bridge.temporal.tls.existingSecret }}
        - name: temporal-tls
          mountPath: /etc/ado-temporal-bridge/temporal-tls
          readOnly: true
        {{- end }}
        {{- with .Values.extraVolumeMounts }}
        {{- toYaml . | nindent 8 }}
        {{- end }}
  volumes:
    - name: config
      configMap:
        name: {{ include "atb.fullname" . }}
    {{- with include "atb.rulesConfigMapName" . }}
    - name: rules
      configMap:
        name: {{ . }}
    {{- end }}
    {{- if not (include "atb.durable" .) }}
    - name: data
      emptyDir:
        {{- with .Values.emptyDir.sizeLimit }}
        sizeLimit: {{ . }}
        {{- end }}
    {{- end }}
    {{- if .Values.tmpVolume.enabled }}
    - name: tmp
      emptyDir:
        {{- with .Values.tmpVolume.sizeLimit }}
        sizeLimit: {{ . }}
        {{- end }}
    {{- end }}
    {{- if eq .Values.secrets.provider "existingSecret" }}
    - name: secrets
      secret:
        secretName: {{ .Values.secrets.existingSecret.name }}
        defaultMode: 0440
    {{- else if eq .Values.secrets.provider "keyVault" }}
    - name: secrets
      csi:
        driver: secrets-store.csi.k8s.io
        readOnly: true
        volumeAttributes:
          secretProviderClass: {{ include "atb.fullname" . }}
    {{- end }}
    {{- with .Values.bridge.temporal.tls }}
    {{- if and .enabled .existingSecret }}
    - name: temporal-tls
      secret:
        secretName: {{ .existingSecret }}
        defaultMode: 0440
        items:
          {{- if .caKey }}
          - key: {{ .caKey }}
            path: ca.crt
          {{- end }}
          {{- if .certKey }}
          - key: {{ .certKey }}
            path: tls.crt
          {{- end }}
          {{- if .keyKey }}
          - key: {{ .keyKey }}
            path: tls.key
          {{- end }}
    {{- end }}
    {{- end }}
    {{- with .Values.extraVolumes }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
  {{- with .Values.nodeSelector }}
  nodeSelector:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- with .Values.affinity }}
  affinity:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- with .Values.tolerations }}
  tolerations:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- with .Values.topologySpreadConstraints }}
  topologySpreadConstraints:
    {{- toYaml . | nindent 4 }}
  {{- end }}
{{- end }}
