"""EC2 MonitorInstances / UnmonitorInstances switch detailed monitoring on and off.

The EC2 API reference, MonitorInstances: "Enables detailed monitoring for a running
instance. Otherwise, basic monitoring is enabled."; the response lists each instance with
its monitoring state (`pending` while it is being enabled; UnmonitorInstances answers
`disabling`); an unknown id is `InvalidInstanceID.NotFound`. moto 5.2.5 raises
NotImplementedError for both (our fail-fast answer: 501 NotImplemented), although its
RunInstances (`Monitoring.Enabled`) and DescribeInstances already carry the state. The AWS
provider calls MonitorInstances after creating an `aws_instance` with `monitoring = true`
(modules/gpu_trainer), so that apply failed. We set the instance's state, reached at once
(nothing in moto monitors), and answer with the transitional state as AWS does.
"""

from __future__ import annotations

from typing import Any


def install() -> None:
    from moto.core.responses import ActionResult
    from moto.ec2.responses.monitoring import Monitoring

    def switch(self: Any, state: str, answer: str) -> ActionResult:
        self.error_on_dryrun()
        instances = self.ec2_backend.get_multi_instances_by_id(
            self._get_param("InstanceIds", []))
        for instance in instances:
            instance.monitoring_state = state
        return ActionResult({"InstanceMonitorings": [
            {"InstanceId": instance.id, "Monitoring": {"State": answer}}
            for instance in instances]})

    def monitor_instances(self: Any) -> ActionResult:
        return switch(self, "enabled", "pending")

    def unmonitor_instances(self: Any) -> ActionResult:
        return switch(self, "disabled", "disabling")

    setattr(Monitoring, "monitor_instances", monitor_instances)  # noqa: B010 (patching moto)
    setattr(Monitoring, "unmonitor_instances", unmonitor_instances)  # noqa: B010
