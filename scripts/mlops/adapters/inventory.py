"""What runs in an account and is billed by the hour, for the cost reaper: SageMaker
endpoints (with the instances their variants run) and EC2 instances, read and stopped
through boto3. I/O only: which of them to reap is decided in core/reap.py.

The calls, from the AWS API references: sagemaker ListEndpoints (paginated),
DescribeEndpoint (status, CreationTime, LastModifiedTime, CurrentInstanceCount per variant),
DescribeEndpointConfig (InstanceType per variant), ListTags, DeleteEndpoint ("deletes the
endpoint ... does not delete the endpoint configuration"); ec2 DescribeInstances (filter
instance-state-name), StopInstances.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from mlops.adapters import aws
from mlops.core.reap import Resource
from mlops.errors import MlopsError

# Endpoints in these states are on their way in or out: nothing to reap (yet). A Failed
# endpoint runs no instance: it is reaped like any other, but stops no cost.
SKIPPED_ENDPOINT_STATES = frozenset({"Creating", "Deleting"})


def _client(env: Mapping[str, str], service: str, region: str) -> Any:
    return aws.client({**env, "AWS_REGION": region, "AWS_DEFAULT_REGION": region}, service)


def _error(call: str, err: Exception, permission: str) -> MlopsError:
    return MlopsError(f"{call} failed: {err}",
                      f"the reaper needs {permission} on the env's resources",
                      "check the role the job assumed (bootstrap's reaper role) and the region")


def _utc(moment: Any) -> datetime:
    if isinstance(moment, datetime):
        return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    return datetime.fromisoformat(str(moment).replace("Z", "+00:00"))


def endpoints(env: Mapping[str, str], region: str) -> list[Resource]:
    """Every endpoint of the region that is not being created or deleted."""
    from botocore.exceptions import BotoCoreError, ClientError

    sm = _client(env, "sagemaker", region)
    found: list[Resource] = []
    try:
        for page in sm.get_paginator("list_endpoints").paginate():
            for summary in page.get("Endpoints", []):
                if summary.get("EndpointStatus") in SKIPPED_ENDPOINT_STATES:
                    continue
                name = str(summary["EndpointName"])
                described = sm.describe_endpoint(EndpointName=name)
                if described.get("EndpointStatus") in SKIPPED_ENDPOINT_STATES:
                    continue
                tags = {str(t["Key"]): str(t.get("Value", "")) for t in sm.list_tags(
                    ResourceArn=described["EndpointArn"]).get("Tags", [])}
                found.append(Resource(
                    kind="endpoint", id=name, name=name, tags=tags,
                    created=_utc(described["CreationTime"]),
                    deployed=_utc(described.get("LastModifiedTime")
                                  or described["CreationTime"]),
                    instances=() if described.get("EndpointStatus") == "Failed"
                    else _endpoint_instances(sm, described), region=region))
    except (ClientError, BotoCoreError) as err:
        raise _error("listing the SageMaker endpoints", err,
                     "sagemaker:ListEndpoints, DescribeEndpoint, DescribeEndpointConfig and "
                     "ListTags") from err
    return found


def _endpoint_instances(sm: Any, described: Mapping[str, Any]) -> tuple[tuple[str, int], ...]:
    """(instance type, running count) per variant; serverless variants bill per request."""
    config = sm.describe_endpoint_config(EndpointConfigName=described["EndpointConfigName"])
    types = {str(v["VariantName"]): v.get("InstanceType")
             for v in config.get("ProductionVariants", [])}
    initial = {str(v["VariantName"]): int(v.get("InitialInstanceCount") or 0)
               for v in config.get("ProductionVariants", [])}
    counts: dict[str, int] = {}
    for variant in described.get("ProductionVariants", []):
        name = str(variant["VariantName"])
        itype = types.get(name)
        if not itype:
            continue
        count = variant.get("CurrentInstanceCount")
        counts[str(itype)] = counts.get(str(itype), 0) + int(
            count if count is not None else initial.get(name, 0))
    return tuple(sorted(counts.items()))


def running_instances(env: Mapping[str, str], region: str) -> list[Resource]:
    """Every pending or running EC2 instance of the region."""
    from botocore.exceptions import BotoCoreError, ClientError

    ec2 = _client(env, "ec2", region)
    found: list[Resource] = []
    try:
        pages = ec2.get_paginator("describe_instances").paginate(
            Filters=[{"Name": "instance-state-name", "Values": ["pending", "running"]}])
        for page in pages:
            for reservation in page.get("Reservations", []):
                for instance in reservation.get("Instances", []):
                    tags = {str(t["Key"]): str(t.get("Value", ""))
                            for t in instance.get("Tags", [])}
                    launched = _utc(instance["LaunchTime"])
                    found.append(Resource(
                        kind="instance", id=str(instance["InstanceId"]),
                        name=tags.get("Name", ""), tags=tags, created=launched,
                        deployed=launched,
                        instances=((str(instance["InstanceType"]), 1),), region=region))
    except (ClientError, BotoCoreError) as err:
        raise _error("listing the EC2 instances", err, "ec2:DescribeInstances") from err
    return found


def delete_endpoint(env: Mapping[str, str], region: str, name: str) -> None:
    """Delete the endpoint; its endpoint configuration and models stay."""
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        _client(env, "sagemaker", region).delete_endpoint(EndpointName=name)
    except (ClientError, BotoCoreError) as err:
        raise _error(f"deleting the endpoint {name}", err, "sagemaker:DeleteEndpoint") from err


def stop_instance(env: Mapping[str, str], region: str, instance_id: str) -> None:
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        _client(env, "ec2", region).stop_instances(InstanceIds=[instance_id])
    except (ClientError, BotoCoreError) as err:
        raise _error(f"stopping the instance {instance_id}", err, "ec2:StopInstances") from err
