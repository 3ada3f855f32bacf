# (probes) Every long-running container has a readiness probe (no traffic before it can
# answer, none after SIGTERM) and a liveness probe (a wedged process is restarted).
package main

import rego.v1

deny contains k8s_finding("probes", msg) if {
	input.kind in k8s_long_running
	some entry in k8s_containers
	not entry.init
	some probe in ["readinessProbe", "livenessProbe"]
	not is_object(entry.container[probe])
	msg := concat("", [
		entry.path, ".", probe,
		": missing (a Service sends traffic by readiness; liveness restarts a stuck process)",
	])
}
