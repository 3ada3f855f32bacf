# (non_root) Containers run as a non-root user, cannot gain privileges, and are locked
# down as the `restricted` Pod Security Standard requires: read-only root filesystem,
# every capability dropped, the runtime's default seccomp profile.
package main

import rego.v1

k8s_pod_security := object.get(k8s_template.spec, "securityContext", {})

k8s_security(container) := object.get(container, "securityContext", {})

# A container's setting, else the pod's (for the fields a pod can set for all).
k8s_effective(container, key) := k8s_security(container)[key] if {
	k8s_security(container)[key] != null
} else := k8s_pod_security[key]

deny contains k8s_finding("non_root", msg) if {
	some entry in k8s_containers
	not k8s_effective(entry.container, "runAsNonRoot") == true
	msg := concat("", [
		entry.path, ".securityContext.runAsNonRoot: must be true ",
		"(here or in ", k8s_pod_path, ".securityContext)",
	])
}

deny contains k8s_finding("non_root", msg) if {
	some entry in k8s_containers
	k8s_effective(entry.container, "runAsUser") == 0
	msg := concat("", [entry.path, ".securityContext.runAsUser: 0 is root"])
}

deny contains k8s_finding("non_root", msg) if {
	some entry in k8s_containers
	not object.get(k8s_security(entry.container), "allowPrivilegeEscalation", true) == false
	msg := concat("", [entry.path, ".securityContext.allowPrivilegeEscalation: must be false"])
}

deny contains k8s_finding("non_root", msg) if {
	some entry in k8s_containers
	object.get(k8s_security(entry.container), "privileged", false) == true
	msg := concat("", [entry.path, ".securityContext.privileged: must not be true"])
}

deny contains k8s_finding("non_root", msg) if {
	some entry in k8s_containers
	not object.get(k8s_security(entry.container), "readOnlyRootFilesystem", false) == true
	msg := concat("", [
		entry.path, ".securityContext.readOnlyRootFilesystem: must be true ",
		"(mount an emptyDir where the process writes)",
	])
}

deny contains k8s_finding("non_root", msg) if {
	some entry in k8s_containers
	capabilities := object.get(k8s_security(entry.container), "capabilities", {})
	not "ALL" in object.get(capabilities, "drop", [])
	msg := concat("", [entry.path, ".securityContext.capabilities.drop: must include ALL"])
}

deny contains k8s_finding("non_root", msg) if {
	some entry in k8s_containers
	not k8s_seccomp_type(entry.container) in {"RuntimeDefault", "Localhost"}
	msg := concat("", [
		entry.path, ".securityContext.seccompProfile.type: must be RuntimeDefault ",
		"(here or in ", k8s_pod_path, ".securityContext)",
	])
}

k8s_seccomp_type(container) := k8s_effective(container, "seccompProfile").type if {
	is_object(k8s_effective(container, "seccompProfile"))
} else := "unset"
