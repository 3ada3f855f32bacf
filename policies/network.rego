# (b) No security group ingress from the whole internet (0.0.0.0/0 or ::/0), on any port.
# SSH and all-port openings are named as such in the message. Egress is not checked.
# Covers inline `ingress` blocks of aws_security_group, aws_security_group_rule with
# type = "ingress", and aws_vpc_security_group_ingress_rule.
package main

import rego.v1

world_cidrs := {"0.0.0.0/0", "::/0"}

all_protocols := {"-1", "all"}

tcp_protocols := {"tcp", "6"}

# What an ingress rule opens, in words.
describe(protocol, from, to) := "all ports and protocols" if {
	lower(protocol) in all_protocols
} else := concat("", ["SSH (port 22/", protocol, ")"]) if {
	lower(protocol) in tcp_protocols
	from == 22
	to == 22
} else := concat("", ["ports ", sprintf("%d-%d", [from, to]), "/", protocol, ", including SSH (22)"]) if {
	lower(protocol) in tcp_protocols
	from <= 22
	to >= 22
} else := concat("", ["port ", sprintf("%d", [from]), "/", protocol]) if {
	from == to
} else := concat("", ["ports ", sprintf("%d-%d", [from, to]), "/", protocol])

world_sources(cidrs) := [c | some c in cidrs; c in world_cidrs]

open_to_world_msg(sources, protocol, from, to) := concat("", [
	"ingress from ", concat(", ", sources),
	" to ", describe(protocol, from, to),
])

deny contains finding("network", rc.address, msg) if {
	some rc in planned_of_type("aws_security_group")
	some rule in rc.change.after.ingress
	cidrs := array.concat(
		[c | some c in object.get(rule, "cidr_blocks", [])],
		[c | some c in object.get(rule, "ipv6_cidr_blocks", [])],
	)
	sources := world_sources(cidrs)
	count(sources) > 0
	msg := open_to_world_msg(sources, rule.protocol, rule.from_port, rule.to_port)
}

deny contains finding("network", rc.address, msg) if {
	some rc in planned_of_type("aws_security_group_rule")
	rule := rc.change.after
	rule.type == "ingress"
	cidrs := array.concat(
		[c | some c in object.get(rule, "cidr_blocks", [])],
		[c | some c in object.get(rule, "ipv6_cidr_blocks", [])],
	)
	sources := world_sources(cidrs)
	count(sources) > 0
	msg := open_to_world_msg(sources, rule.protocol, rule.from_port, rule.to_port)
}

deny contains finding("network", rc.address, msg) if {
	some rc in planned_of_type("aws_vpc_security_group_ingress_rule")
	rule := rc.change.after
	sources := world_sources([object.get(rule, "cidr_ipv4", null), object.get(rule, "cidr_ipv6", null)])
	count(sources) > 0
	msg := open_to_world_msg(sources, rule.ip_protocol, object.get(rule, "from_port", 0), object.get(rule, "to_port", 0))
}
