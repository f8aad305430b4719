"""Every write to a connector's identification rule selection goes through one of these functions.

The selection belongs to the inventory (it says how a connector's records are identified), so it is written here;
connectors call these functions when a connector is created and from its rules page, API and admin. The audit row
is the connector's (``ConnectorEvent``), next to the change, in the same transaction.
"""

from __future__ import annotations

from django.db import transaction

from connectors.choices import ConnectorAction
from connectors.models import Connector, ConnectorEvent

from .models import IdentificationRule, RuleSelection


class RuleSelectionError(ValueError):
    pass


def install_default_rules(connector: Connector) -> None:
    """Give a connector the default selection: every rule in its default order, on if the rule says so."""
    RuleSelection.objects.bulk_create(
        RuleSelection(connector=connector, rule=rule, position=index, enabled=rule.default_enabled or rule.is_system)
        for index, rule in enumerate(IdentificationRule.objects.order_by("-is_system", "position", "id"))
    )


@transaction.atomic
def update_rule_selection(
    connector: Connector,
    *,
    actor=None,
    order: list[int] | None = None,
    enabled: dict[int, bool] | None = None,
    create_unmanaged: bool | None = None,
    apply_default_rule: bool | None = None,
) -> list[RuleSelection]:
    """Reorder and toggle a connector's rules and set its two options, keeping the invariants.

    ``order`` lists rule ids (all of the connector's rules, in the new order); ``enabled`` maps rule id -> on/off.
    The Source native key rule always stays first and on, and at least one other rule must stay on.
    """
    selection = list(connector.rule_selection.select_related("rule").select_for_update())
    by_rule = {item.rule_id: item for item in selection}
    changes: dict[str, object] = {}
    if order is not None:
        if sorted(order) != sorted(by_rule):
            raise RuleSelectionError("The new order must list each of the connector's rules once.")
        system = [rule_id for rule_id in order if by_rule[rule_id].rule.is_system]
        order = system + [rule_id for rule_id in order if rule_id not in system]
        if [item.rule_id for item in selection] != order:
            changes["order"] = [by_rule[rule_id].rule.name for rule_id in order]
        for position, rule_id in enumerate(order):
            by_rule[rule_id].position = position
    for rule_id, on in (enabled or {}).items():
        item = by_rule.get(rule_id)
        if item is None:
            raise RuleSelectionError("That rule is not part of this connector's selection.")
        if item.rule.is_system and not on:
            raise RuleSelectionError(f"{item.rule.name} is a system rule and cannot be turned off.")
        if item.enabled != on:
            item.enabled = on
            changes.setdefault("required", {})[item.rule.name] = on
    if not any(item.enabled for item in selection if not item.rule.is_system):
        raise RuleSelectionError("At least one identification rule besides Source native key must stay on.")
    RuleSelection.objects.bulk_update(selection, ["position", "enabled"])
    options = {}
    if create_unmanaged is not None and create_unmanaged != connector.create_unmanaged:
        options["create_unmanaged"] = create_unmanaged
    if apply_default_rule is not None and apply_default_rule != connector.apply_default_rule:
        options["apply_default_rule"] = apply_default_rule
    for key, value in options.items():
        setattr(connector, key, value)
        changes[key] = value
    if options:
        connector.save(update_fields=[*options, "updated_at"])
    if changes:
        ConnectorEvent.record(connector, ConnectorAction.RULES_CHANGED, actor, **changes)
    return sorted(selection, key=lambda item: item.position)
