# Shared helpers of the Kubernetes policies (policies/k8s/*.rego). Conftest's convention:
# `input` is one rendered object, so `conftest test -p policies/k8s --data
# policies/k8s/data <(kubectl kustomize k8s/overlays/dev)` works unchanged. What the
# object does not say comes from data documents:
#   data.context.env        the env whose overlay this is (`mlops k8s check` sets it)
#   data.registries         the allowed image registries and how they pin (data/)
#   data.required_labels    the labels every object carries (data/)
# Every rule adds {"msg", "rule", "address"} to `deny`; `address` is "Kind/name" and
# `msg` starts with it, then names the field: "Deployment/x: spec...image: ...".
# Names are prefixed k8s_ so these files can sit in package main beside the Terraform
# plan policies (policies/*.rego) without a clash. Strings are built with concat():
# rego-cpp (regopy) formats only numbers with sprintf.
package main

import rego.v1

k8s_id := concat("/", [input.kind, input.metadata.name])

k8s_finding(rule, text) := {
	"msg": concat(": ", [k8s_id, text]),
	"rule": rule,
	"address": k8s_id,
}

# Kinds whose pods run for as long as they are up (probes apply to these).
k8s_long_running := {"Deployment", "StatefulSet", "DaemonSet", "ReplicaSet"}

k8s_templated := k8s_long_running | {"Job"}

# The pod template of a workload and its path in the object.
k8s_template := input.spec.template if input.kind in k8s_templated

k8s_template := input.spec.jobTemplate.spec.template if input.kind == "CronJob"

k8s_template := {"metadata": input.metadata, "spec": input.spec} if input.kind == "Pod"

k8s_template_path := "spec.template" if input.kind in k8s_templated

k8s_template_path := "spec.jobTemplate.spec.template" if input.kind == "CronJob"

k8s_template_path := "" if input.kind == "Pod"

k8s_pod_path := concat("", [k8s_template_path, ".spec"]) if k8s_template_path != ""

k8s_pod_path := "spec" if k8s_template_path == ""

# Every container and init container: {"container", "path", "init"}.
k8s_containers contains {"container": c, "init": false, "path": path} if {
	some c in k8s_template.spec.containers
	path := concat("", [k8s_pod_path, ".containers[", c.name, "]"])
}

k8s_containers contains {"container": c, "init": true, "path": path} if {
	some c in object.get(k8s_template.spec, "initContainers", [])
	path := concat("", [k8s_pod_path, ".initContainers[", c.name, "]"])
}

# The repository of an image reference: without its @digest and its :tag.
k8s_repository(image) := regex.replace(split(image, "@")[0], `:[^/:]+$`, "")

k8s_has_digest(image) if contains(image, "@sha256:")

# The tag, or "" when there is none.
k8s_tag(image) := substring(name, count(repo) + 1, -1) if {
	name := split(image, "@")[0]
	repo := k8s_repository(image)
	name != repo
} else := ""
