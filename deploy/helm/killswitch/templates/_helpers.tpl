{{/* Names and labels shared by the templates. */}}
{{- define "killswitch.fullname" -}}
{{- if contains "killswitch" .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-killswitch" .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "killswitch.selectorLabels" -}}
app.kubernetes.io/name: killswitchd
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "killswitch.labels" -}}
{{ include "killswitch.selectorLabels" . }}
app.kubernetes.io/part-of: killswitch
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{- if .Values.rollout.ring }}
killswitch.io/ring: {{ .Values.rollout.ring }}
{{- end }}
{{- end -}}

{{/* The policy file the ConfigMap carries. */}}
{{- define "killswitch.policy" -}}
{{- if .Values.policyYAML -}}
{{ .Values.policyYAML }}
{{- else -}}
{{ toYaml .Values.policy }}
{{- end -}}
{{- end -}}

{{- define "killswitch.configMapName" -}}
{{- .Values.existingConfigMap | default (printf "%s-policy" (include "killswitch.fullname" .)) -}}
{{- end -}}
