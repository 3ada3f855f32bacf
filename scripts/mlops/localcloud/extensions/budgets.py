"""AWS Budgets operations the Terraform `aws_budgets_budget` resource needs.

moto 5.2.5 has Create/Describe/DeleteBudget and Create/Delete/DescribeNotifications, but
not the rest, so reading a budget with a notification asked for
DescribeSubscribersForNotification, got HTTP 500 and the provider retried for minutes.
Added here, as the AWS Budgets API reference describes them:

- UpdateBudget: "Updates a budget. You can change every part of a budget except for the
  budgetName and the calculatedSpend."
- DescribeSubscribersForNotification: "Lists the subscribers that are associated with a
  notification."
- CreateSubscriber: "You must create the associated budget and notification before you
  create the subscriber."; UpdateSubscriber; UpdateNotification.
- DeleteSubscriber: "Deleting the last subscriber to a notification also deletes the
  notification."
- DeleteSubscriber, UpdateSubscriber and UpdateNotification of a budget, notification or
  subscriber that does not exist: NotFoundException, listed in each operation's Errors
  ("NotFoundException: We can't locate the resource that you specified."); never a silent
  success. UpdateSubscriber and UpdateNotification to a subscriber or notification that
  already exists (another one than the old): DuplicateRecordException ("The budget name
  already exists. Budget names must be unique within an account.", the only description
  the reference gives the code; both operations list it).
- CreateBudget `ResourceTags`, TagResource, UntagResource, ListTagsForResource (budgets
  are taggable resources, ARN `arn:aws:budgets::<account>:budget/<name>`).
- DescribeNotificationsForBudget of a missing budget: NotFoundException, not a crash.
A missing budget or notification is NotFoundException "We can't locate the resource
that you specified." (Common errors of every Budgets operation.)
"""

from __future__ import annotations

import json
import weakref
from collections.abc import Callable
from typing import Any

Json = dict[str, Any]
DEFAULT_THRESHOLD_TYPE = "PERCENTAGE"  # API reference, Notification.ThresholdType

# Tags per moto Budget object: dropped with the budget, and by `/moto-api/reset`.
_TAGS: weakref.WeakKeyDictionary[Any, dict[str, str]] = weakref.WeakKeyDictionary()


def same_notification(a: Json, b: Json) -> bool:
    """Budgets identifies a notification by type, operator, threshold and threshold type."""
    def key(n: Json) -> tuple[Any, ...]:
        return (n.get("NotificationType"), n.get("ComparisonOperator"),
                float(n.get("Threshold", 0)), n.get("ThresholdType") or DEFAULT_THRESHOLD_TYPE)
    return key(a) == key(b)


def same_subscriber(a: Json, b: Json) -> bool:
    return (a.get("SubscriptionType"), a.get("Address")) == (b.get("SubscriptionType"),
                                                            b.get("Address"))


def install() -> None:
    from moto.budgets.responses import BudgetsResponse

    if getattr(BudgetsResponse, "_mlops_patched", False):
        return
    original_create = BudgetsResponse.create_budget
    operations: dict[str, Callable[[Any], str]] = {
        "create_budget": lambda self: _create_budget(self, original_create),
        "update_budget": _update_budget,
        "describe_notifications_for_budget": _describe_notifications,
        "describe_subscribers_for_notification": _describe_subscribers,
        "create_subscriber": _create_subscriber,
        "delete_subscriber": _delete_subscriber,
        "update_subscriber": _update_subscriber,
        "update_notification": _update_notification,
        "tag_resource": _tag_resource,
        "untag_resource": _untag_resource,
        "list_tags_for_resource": _list_tags,
    }
    for name, func in operations.items():
        setattr(BudgetsResponse, name, func)
    setattr(BudgetsResponse, "_mlops_patched", True)  # noqa: B010


def _not_found(what: str) -> Exception:
    from moto.budgets.exceptions import NotFoundException

    return NotFoundException(f"We can't locate the resource that you specified: {what}")


def _budget(self: Any) -> Any:
    account, name = self._get_param("AccountId"), self._get_param("BudgetName")
    budget = self.backend.budgets[account].get(name)
    if budget is None:
        raise _not_found(f"budget {name}")
    return budget


def _notification(self: Any, key: str = "Notification") -> Any:
    budget, wanted = _budget(self), self._get_param(key)
    for notification in budget.notifications:
        if same_notification(notification.details, wanted):
            return notification
    raise _not_found(f"notification {wanted} of budget {self._get_param('BudgetName')}")


def _create_budget(self: Any, original: Callable[[Any], str]) -> str:
    result = original(self)
    account, budget = self._get_param("AccountId"), self._get_param("Budget")
    tags = self._get_param("ResourceTags") or []
    _TAGS[self.backend.budgets[account][budget["BudgetName"]]] = {
        t["Key"]: t["Value"] for t in tags}
    return result


def _update_budget(self: Any) -> str:
    from moto.core.utils import unix_time

    new = self._get_param("NewBudget")
    budgets = self.backend.budgets[self._get_param("AccountId")]
    budget = budgets.get(new["BudgetName"])
    if budget is None:
        raise _not_found(f"budget {new['BudgetName']}")
    kept = {k: v for k, v in budget.budget.items() if k in ("TimePeriod",)}
    budget.budget = {**kept, **new, "LastUpdatedTime": unix_time()}
    return "{}"


def _describe_notifications(self: Any) -> str:
    budget = _budget(self)
    return json.dumps({"Notifications": [n.details for n in budget.notifications]})


def _describe_subscribers(self: Any) -> str:
    return json.dumps({"Subscribers": list(_notification(self).subscribers)})


def _create_subscriber(self: Any) -> str:
    from moto.budgets.exceptions import DuplicateRecordException

    notification, subscriber = _notification(self), self._get_param("Subscriber")
    if any(same_subscriber(s, subscriber) for s in notification.subscribers):
        raise DuplicateRecordException("subscriber", subscriber.get("Address", ""))
    notification.subscribers.append(subscriber)
    return "{}"


def _subscriber_index(self: Any, notification: Any, key: str) -> int:
    wanted = self._get_param(key)
    for i, subscriber in enumerate(notification.subscribers):
        if same_subscriber(subscriber, wanted):
            return i
    raise _not_found(f"subscriber {wanted} of notification {self._get_param('Notification')} "
                     f"of budget {self._get_param('BudgetName')}")


def _delete_subscriber(self: Any) -> str:
    budget, notification = _budget(self), _notification(self)
    del notification.subscribers[_subscriber_index(self, notification, "Subscriber")]
    if not notification.subscribers:
        budget.notifications.remove(notification)
    return "{}"


def _update_subscriber(self: Any) -> str:
    from moto.budgets.exceptions import DuplicateRecordException

    notification = _notification(self)
    index = _subscriber_index(self, notification, "OldSubscriber")
    new = self._get_param("NewSubscriber")
    if any(same_subscriber(s, new) for i, s in enumerate(notification.subscribers)
           if i != index):
        raise DuplicateRecordException("subscriber", new.get("Address", ""))
    notification.subscribers[index] = new
    return "{}"


def _update_notification(self: Any) -> str:
    from moto.budgets.exceptions import DuplicateRecordException

    budget, old = _budget(self), _notification(self, "OldNotification")
    new = self._get_param("NewNotification")
    if any(n is not old and same_notification(n.details, new) for n in budget.notifications):
        raise DuplicateRecordException("notification", str(new))
    old.details = new
    return "{}"


def _resource_tags(self: Any) -> dict[str, str]:
    """The tags of the budget named by ResourceARN: arn:aws:budgets::<account>:budget/<name>."""
    arn = str(self._get_param("ResourceARN"))
    parts = arn.split(":", 5)
    account = parts[4] if len(parts) == 6 else ""
    name = parts[5].partition("/")[2] if len(parts) == 6 else ""
    budget = self.backend.budgets[account].get(name)
    if budget is None:
        raise _not_found(arn)
    return _TAGS.setdefault(budget, {})


def _tag_resource(self: Any) -> str:
    tags = _resource_tags(self)
    tags.update({t["Key"]: t["Value"] for t in self._get_param("ResourceTags") or []})
    return "{}"


def _untag_resource(self: Any) -> str:
    tags = _resource_tags(self)
    for key in self._get_param("ResourceTagKeys") or []:
        tags.pop(key, None)
    return "{}"


def _list_tags(self: Any) -> str:
    tags = _resource_tags(self)
    return json.dumps({"ResourceTags": [{"Key": k, "Value": v} for k, v in tags.items()]})
