# (limits) Every container, init containers included, requests and limits cpu and
# memory: the scheduler places pods by their requests, and a container without limits
# can starve the node's other pods (and the HPA computes utilisation from requests).
package main

import rego.v1

deny contains k8s_finding("limits", msg) if {
	some entry in k8s_containers
	some section in ["requests", "limits"]
	some resource in ["cpu", "memory"]
	not k8s_quantity_set(entry.container, section, resource)
	msg := concat("", [
		entry.path, ".resources.", section, ".", resource,
		": missing (every container sets requests and limits for cpu and memory)",
	])
}

k8s_quantity_set(container, section, resource) if {
	value := container.resources[section][resource]
	value != ""
	value != null
}
