"""AWS Budgets operations (mlops/localcloud/extensions/budgets.py)."""

from __future__ import annotations

from typing import Any

import pytest
from botocore.exceptions import ClientError

pytestmark = pytest.mark.cloud

ACCOUNT = "123456789012"
EMAIL = {"SubscriptionType": "EMAIL", "Address": "ml-platform@example.com"}
SNS = {"SubscriptionType": "SNS", "Address": "arn:aws:sns:us-east-1:123456789012:alerts"}


def _notification(threshold: float, kind: str = "ACTUAL") -> dict[str, Any]:
    return {"NotificationType": kind, "ComparisonOperator": "GREATER_THAN",
            "Threshold": threshold, "ThresholdType": "PERCENTAGE"}


def _create(budgets: Any, name: str) -> dict[str, Any]:
    notification = _notification(80.0)
    budgets.create_budget(
        AccountId=ACCOUNT,
        Budget={"BudgetName": name, "BudgetType": "COST", "TimeUnit": "MONTHLY",
                "BudgetLimit": {"Amount": "100.0", "Unit": "USD"},
                "CostFilters": {"TagKeyValue": ["user:env$dev"]}},
        NotificationsWithSubscribers=[{"Notification": notification,
                                       "Subscribers": [EMAIL, SNS]}],
        ResourceTags=[{"Key": "env", "Value": "dev"}])
    return notification


def _subscribers(budgets: Any, name: str, notification: dict[str, Any]) -> list[dict[str, str]]:
    found: list[dict[str, str]] = budgets.describe_subscribers_for_notification(
        AccountId=ACCOUNT, BudgetName=name, Notification=notification)["Subscribers"]
    return found


def test_subscribers_of_a_notification_are_listed(cloud: Any, unique_name: str) -> None:
    budgets = cloud.client("budgets")
    notification = _create(budgets, unique_name)
    assert _subscribers(budgets, unique_name, notification) == [EMAIL, SNS]


def test_subscriber_create_update_delete(cloud: Any, unique_name: str) -> None:
    budgets = cloud.client("budgets")
    notification = _create(budgets, unique_name)
    other = {"SubscriptionType": "EMAIL", "Address": "oncall@example.com"}
    budgets.delete_subscriber(AccountId=ACCOUNT, BudgetName=unique_name,
                              Notification=notification, Subscriber=SNS)
    budgets.create_subscriber(AccountId=ACCOUNT, BudgetName=unique_name,
                              Notification=notification, Subscriber=other)
    with pytest.raises(ClientError) as excinfo:
        budgets.create_subscriber(AccountId=ACCOUNT, BudgetName=unique_name,
                                  Notification=notification, Subscriber=other)
    assert excinfo.value.response["Error"]["Code"] == "DuplicateRecordException"
    moved = {"SubscriptionType": "EMAIL", "Address": "finops@example.com"}
    budgets.update_subscriber(AccountId=ACCOUNT, BudgetName=unique_name,
                              Notification=notification, OldSubscriber=other,
                              NewSubscriber=moved)
    assert _subscribers(budgets, unique_name, notification) == [EMAIL, moved]


def test_deleting_last_subscriber_deletes_the_notification(cloud: Any, unique_name: str) -> None:
    budgets = cloud.client("budgets")
    notification = _create(budgets, unique_name)
    for subscriber in (EMAIL, SNS):
        budgets.delete_subscriber(AccountId=ACCOUNT, BudgetName=unique_name,
                                  Notification=notification, Subscriber=subscriber)
    listed = budgets.describe_notifications_for_budget(AccountId=ACCOUNT, BudgetName=unique_name)
    assert listed["Notifications"] == []


def test_update_budget_and_notification(cloud: Any, unique_name: str) -> None:
    budgets = cloud.client("budgets")
    notification = _create(budgets, unique_name)
    budgets.update_budget(AccountId=ACCOUNT, NewBudget={
        "BudgetName": unique_name, "BudgetType": "COST", "TimeUnit": "MONTHLY",
        "BudgetLimit": {"Amount": "250.0", "Unit": "USD"}})
    budget = budgets.describe_budget(AccountId=ACCOUNT, BudgetName=unique_name)["Budget"]
    assert budget["BudgetLimit"]["Amount"] == "250.0"
    assert "CostFilters" not in budget  # every part is replaced, as the API says
    raised = _notification(90.0)
    budgets.update_notification(AccountId=ACCOUNT, BudgetName=unique_name,
                                OldNotification=notification, NewNotification=raised)
    listed = budgets.describe_notifications_for_budget(AccountId=ACCOUNT, BudgetName=unique_name)
    assert [n["Threshold"] for n in listed["Notifications"]] == [90.0]
    assert _subscribers(budgets, unique_name, raised) == [EMAIL, SNS]


def test_budget_tags(cloud: Any, unique_name: str) -> None:
    budgets = cloud.client("budgets")
    _create(budgets, unique_name)
    arn = f"arn:aws:budgets::{ACCOUNT}:budget/{unique_name}"
    budgets.tag_resource(ResourceARN=arn, ResourceTags=[{"Key": "owner", "Value": "ml"}])
    budgets.untag_resource(ResourceARN=arn, ResourceTagKeys=["env"])
    tags = budgets.list_tags_for_resource(ResourceARN=arn)["ResourceTags"]
    assert tags == [{"Key": "owner", "Value": "ml"}]


@pytest.mark.parametrize("call", [
    lambda b, n: b.describe_notifications_for_budget(AccountId=ACCOUNT, BudgetName=n),
    lambda b, n: b.describe_subscribers_for_notification(
        AccountId=ACCOUNT, BudgetName=n, Notification=_notification(80.0)),
    lambda b, n: b.list_tags_for_resource(ResourceARN=f"arn:aws:budgets::{ACCOUNT}:budget/{n}"),
], ids=["notifications", "subscribers", "tags"])
def test_missing_budget_is_not_found(cloud: Any, unique_name: str, call: Any) -> None:
    with pytest.raises(ClientError) as excinfo:
        call(cloud.client("budgets"), unique_name)
    assert excinfo.value.response["Error"]["Code"] == "NotFoundException"


# DeleteSubscriber, UpdateSubscriber, UpdateNotification: "NotFoundException: We can't locate
# the resource that you specified." (each operation's Errors in the Budgets API reference).
OTHER = {"SubscriptionType": "EMAIL", "Address": "nobody@example.com"}
MISSING_CASES = {
    "delete-missing-subscriber": lambda b, n, note: b.delete_subscriber(
        AccountId=ACCOUNT, BudgetName=n, Notification=note, Subscriber=OTHER),
    "delete-subscriber-missing-notification": lambda b, n, note: b.delete_subscriber(
        AccountId=ACCOUNT, BudgetName=n, Notification=_notification(42.0), Subscriber=EMAIL),
    "update-missing-subscriber": lambda b, n, note: b.update_subscriber(
        AccountId=ACCOUNT, BudgetName=n, Notification=note, OldSubscriber=OTHER,
        NewSubscriber={"SubscriptionType": "EMAIL", "Address": "new@example.com"}),
    "update-subscriber-missing-budget": lambda b, n, note: b.update_subscriber(
        AccountId=ACCOUNT, BudgetName=n + "-gone", Notification=note, OldSubscriber=EMAIL,
        NewSubscriber=OTHER),
    "update-missing-notification": lambda b, n, note: b.update_notification(
        AccountId=ACCOUNT, BudgetName=n, OldNotification=_notification(42.0),
        NewNotification=_notification(43.0)),
    "update-notification-missing-budget": lambda b, n, note: b.update_notification(
        AccountId=ACCOUNT, BudgetName=n + "-gone", OldNotification=note,
        NewNotification=_notification(43.0)),
}


@pytest.mark.parametrize("call", MISSING_CASES.values(), ids=MISSING_CASES.keys())
def test_changing_something_missing_is_not_found_and_changes_nothing(
        cloud: Any, unique_name: str, call: Any) -> None:
    budgets = cloud.client("budgets")
    notification = _create(budgets, unique_name)
    with pytest.raises(ClientError) as excinfo:
        call(budgets, unique_name, notification)
    assert excinfo.value.response["Error"]["Code"] == "NotFoundException"
    listed = budgets.describe_notifications_for_budget(AccountId=ACCOUNT, BudgetName=unique_name)
    assert [n["Threshold"] for n in listed["Notifications"]] == [80.0]
    assert _subscribers(budgets, unique_name, notification) == [EMAIL, SNS]


def test_update_onto_an_existing_subscriber_or_notification_is_a_duplicate(
        cloud: Any, unique_name: str) -> None:
    budgets = cloud.client("budgets")
    notification = _create(budgets, unique_name)
    with pytest.raises(ClientError) as excinfo:
        budgets.update_subscriber(AccountId=ACCOUNT, BudgetName=unique_name,
                                  Notification=notification, OldSubscriber=EMAIL,
                                  NewSubscriber=SNS)
    assert excinfo.value.response["Error"]["Code"] == "DuplicateRecordException"
    second = _notification(95.0)
    budgets.create_notification(AccountId=ACCOUNT, BudgetName=unique_name,
                                Notification=second, Subscribers=[EMAIL])
    with pytest.raises(ClientError) as excinfo:
        budgets.update_notification(AccountId=ACCOUNT, BudgetName=unique_name,
                                    OldNotification=second, NewNotification=notification)
    assert excinfo.value.response["Error"]["Code"] == "DuplicateRecordException"
    assert _subscribers(budgets, unique_name, notification) == [EMAIL, SNS]
    # Updating a subscriber to itself is not a duplicate of another one.
    budgets.update_subscriber(AccountId=ACCOUNT, BudgetName=unique_name,
                              Notification=notification, OldSubscriber=EMAIL,
                              NewSubscriber=EMAIL)
