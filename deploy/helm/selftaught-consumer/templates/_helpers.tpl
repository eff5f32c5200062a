{{/* Names */}}
{{- define "selftaught-consumer.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "selftaught-consumer.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 52 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 52 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 52 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "selftaught-consumer.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "selftaught-consumer.selectorLabels" -}}
app.kubernetes.io/name: {{ include "selftaught-consumer.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "selftaught-consumer.labels" -}}
helm.sh/chart: {{ include "selftaught-consumer.chart" . }}
{{ include "selftaught-consumer.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/component: consumer
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{- define "selftaught-consumer.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "selftaught-consumer.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "selftaught-consumer.headlessServiceName" -}}
{{- printf "%s-headless" (include "selftaught-consumer.fullname" .) }}
{{- end }}

{{/*
The scrape job's name (<namespace>/<PodMonitor name>) must contain "selftaught": the
SelftaughtNotReady alert finds the service's `up` series by it.
*/}}
{{- define "selftaught-consumer.podMonitorName" -}}
{{- $full := include "selftaught-consumer.fullname" . }}
{{- if contains "selftaught" $full }}{{ $full }}{{ else }}{{ printf "selftaught-%s" $full | trunc 63 | trimSuffix "-" }}{{ end }}
{{- end }}

{{- define "selftaught-consumer.image" -}}
{{- $tag := default .Chart.AppVersion .Values.image.tag }}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository $tag }}
{{- end }}
{{- end }}

{{/* A value as an environment variable's text: no "1e+06" for large whole numbers. */}}
{{- define "selftaught-consumer.envText" -}}
{{- if kindIs "float64" . }}
{{- if eq . (floor .) }}{{ int64 . }}{{ else }}{{ . }}{{ end }}
{{- else }}
{{- . }}
{{- end }}
{{- end }}

{{/* Shutdown: the grace period covers the worst in-flight LLM call plus a commit. */}}
{{- define "selftaught-consumer.gracePeriodSeconds" -}}
{{- $g := .Values.shutdown.terminationGracePeriodSeconds }}
{{- if kindIs "invalid" $g }}
{{- add (ceil .Values.config.llmRequestTimeoutS | int64) (int64 .Values.shutdown.commitSeconds) }}
{{- else }}
{{- int64 $g }}
{{- end }}
{{- end }}

{{- define "selftaught-consumer.drainTimeoutSeconds" -}}
{{- sub (include "selftaught-consumer.gracePeriodSeconds" . | int64) (int64 .Values.shutdown.commitSeconds) }}
{{- end }}

{{- define "selftaught-consumer.staticMembership" -}}
{{- if and .Values.workload.staticMembership.enabled (eq .Values.workload.kind "StatefulSet") }}true{{ end }}
{{- end }}

{{- define "selftaught-consumer.securityProtocol" -}}
{{- if and .Values.kafka.sasl.mechanism .Values.kafka.tls.enabled }}SASL_SSL
{{- else if .Values.kafka.sasl.mechanism }}SASL_PLAINTEXT
{{- else if .Values.kafka.tls.enabled }}SSL
{{- end }}
{{- end }}

{{- define "selftaught-consumer.tlsMountPath" -}}/etc/selftaught/kafka-tls{{- end }}

{{/*
librdkafka properties the chart sets itself (or the service owns): a pass-through of the same
name would be refused by the service, or would silently race with the chart's value.
*/}}
{{- define "selftaught-consumer.reservedKafkaProperties" -}}
bootstrap.servers group.id transactional.id enable.auto.commit enable.auto.offset.store isolation.level enable.idempotence security.protocol sasl.mechanism sasl.mechanisms sasl.username sasl.password ssl.ca.location ssl.certificate.location ssl.key.location group.instance.id
{{- end }}

{{/* Refuse values that would deploy a pod doomed to fail, with one clear line each. */}}
{{- define "selftaught-consumer.validate" -}}
{{- $v := .Values }}
{{- if not (has $v.workload.kind (list "StatefulSet" "Deployment")) }}
{{- fail (printf "workload.kind must be StatefulSet or Deployment, not %q" $v.workload.kind) }}
{{- end }}
{{- if not $v.kafka.bootstrapServers }}
{{- fail "kafka.bootstrapServers is required: the Kafka cluster's host:port list" }}
{{- end }}
{{- if not $v.schemaRegistry.url }}
{{- fail "schemaRegistry.url is required: a Confluent-compatible schema registry's URL" }}
{{- end }}
{{- if and $v.kafka.sasl.mechanism (not (has $v.kafka.sasl.mechanism (list "PLAIN" "SCRAM-SHA-256" "SCRAM-SHA-512"))) }}
{{- fail (printf "kafka.sasl.mechanism must be PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512, not %q (other mechanisms: kafka.config and kafka.secretConfig)" $v.kafka.sasl.mechanism) }}
{{- end }}
{{- if and $v.kafka.sasl.mechanism (not $v.kafka.sasl.existingSecret) }}
{{- fail "kafka.sasl.existingSecret is required with kafka.sasl.mechanism" }}
{{- end }}
{{- if and $v.kafka.tls.existingSecret (not $v.kafka.tls.enabled) }}
{{- fail "kafka.tls.existingSecret is set but kafka.tls.enabled is false" }}
{{- end }}
{{- if ne (empty $v.kafka.tls.certKey) (empty $v.kafka.tls.keyKey) }}
{{- fail "kafka.tls.certKey and kafka.tls.keyKey go together (mutual TLS needs both)" }}
{{- end }}
{{- if and $v.kafka.tls.certKey (not $v.kafka.tls.existingSecret) }}
{{- fail "kafka.tls.certKey needs kafka.tls.existingSecret" }}
{{- end }}
{{- $reserved := splitList " " (include "selftaught-consumer.reservedKafkaProperties" .) }}
{{- range $k, $_ := $v.kafka.config }}
{{- if has $k $reserved }}
{{- fail (printf "kafka.config.%s is set by the chart or owned by the service; use the dedicated value" $k) }}
{{- end }}
{{- if and (eq $k "session.timeout.ms") (include "selftaught-consumer.staticMembership" $) }}
{{- fail "kafka.config.session.timeout.ms: with static membership set workload.staticMembership.sessionTimeoutMs instead" }}
{{- end }}
{{- end }}
{{- range $v.kafka.secretConfig }}
{{- if has .property $reserved }}
{{- fail (printf "kafka.secretConfig %s is set by the chart or owned by the service" .property) }}
{{- end }}
{{- if or (not .secretName) (not .key) }}
{{- fail (printf "kafka.secretConfig %s needs secretName and key" .property) }}
{{- end }}
{{- end }}
{{- if and (eq $v.config.llmBackend "anthropic") (not $v.anthropic.existingSecret) }}
{{- fail "config.llmBackend is anthropic but anthropic.existingSecret is empty: the API key must come from a Secret" }}
{{- end }}
{{- if le (include "selftaught-consumer.drainTimeoutSeconds" . | int64) 0 }}
{{- fail "shutdown.terminationGracePeriodSeconds must exceed shutdown.commitSeconds (the drain deadline is their difference)" }}
{{- end }}
{{- if $v.instanceId }}
{{- if or (ne $v.workload.kind "StatefulSet") $v.keda.enabled (ne (int $v.workload.replicas) 1) }}
{{- fail "instanceId may be set only for a single StatefulSet pod without KEDA: pods sharing an instance id fence each other in a loop (leave it empty and each pod uses its own name)" }}
{{- end }}
{{- end }}
{{- if and $v.keda.enabled (lt (int $v.inputTopicPartitions) 1) }}
{{- fail "inputTopicPartitions must be at least 1" }}
{{- end }}
{{- end }}
