# (weights) The backendRefs weights of each HTTPRoute rule sum to 100, so a weight is the
# percentage of requests that backend gets. Gateway API: "weight ... defaults to 1";
# traffic splits proportionally to the sum, whatever it is, which is why the sum is fixed.
package main

import rego.v1

deny contains k8s_finding("weights", msg) if {
	input.kind == "HTTPRoute"
	some i, rule in input.spec.rules
	refs := object.get(rule, "backendRefs", [])
	count(refs) > 0
	total := sum([object.get(ref, "weight", 1) | some ref in refs])
	total != 100
	msg := concat("", [
		"spec.rules[", sprintf("%d", [i]), "].backendRefs: weights sum to ",
		sprintf("%d", [total]), ", not 100 (they are the percentages of requests)",
	])
}

deny contains k8s_finding("weights", msg) if {
	input.kind == "HTTPRoute"
	some i, rule in input.spec.rules
	some j, ref in object.get(rule, "backendRefs", [])
	weight := object.get(ref, "weight", 1)
	weight > 100
	msg := concat("", [
		"spec.rules[", sprintf("%d", [i]), "].backendRefs[", sprintf("%d", [j]), "].weight: ",
		sprintf("%d", [weight]), " is more than 100 %",
	])
}
