{{- define "llmfit.labels" -}}
app.kubernetes.io/name: llmfit
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "llmfit.selector" -}}
app.kubernetes.io/name: llmfit
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "llmfit.env" -}}
- name: NODE_NAME
  valueFrom:
    fieldRef:
      fieldPath: spec.nodeName
- name: LLMFIT_HOME
  value: /var/lib/llmfit
- name: NVIDIA_VISIBLE_DEVICES
  value: {{ .Values.nvidia.visibleDevices | quote }}
- name: NVIDIA_DRIVER_CAPABILITIES
  value: utility
{{- end -}}

{{- define "llmfit.securityContext" -}}
readOnlyRootFilesystem: true
allowPrivilegeEscalation: false
runAsNonRoot: true
runAsUser: {{ .Values.runAsUser }}
capabilities:
  drop: ["ALL"]
{{- end -}}

{{- define "llmfit.mounts" -}}
- name: home
  mountPath: /var/lib/llmfit
- name: tmp
  mountPath: /tmp
{{- end -}}
