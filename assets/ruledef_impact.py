"""The impact of a change to a rule *definition* (its attributes), over every connector that uses the rule.

A definition is shared: each connector with the rule turned on re-identifies its records under it, and what
connector B's re-identification finds depends on where connector A's left the inventory (A's records may have
moved to other assets, B's may now match them). Independent per-connector previews cannot promise Apply's
numbers, so both run one fixed sequence (:func:`run_definition_change`):

1. save the definition (as the rule's edit form does, with its audit row);
2. for each connector that uses the rule, **in the order the connectors were created** (id ascending): plan the
   re-identification of its live records under its saved rules, now with the new definition
   (:func:`assets.impact.plan_reidentification`, against the inventory as the connectors before it left it),
   execute the plan (:func:`assets.impact_apply.execute_plan`) and record an audit row, exactly as an Apply on the
   connector's own rules page does.

**Apply** runs it in one transaction that commits, under every identification lock (as a connector's Apply).
The **preview** runs the very same function inside a transaction it then rolls back
(:func:`preview_definition_change`): the numbers are those of real execution, so an unchanged inventory gets
exactly what the preview counted, and nothing of it stays. The price is that the preview holds the same locks
as Apply, for as long (see the README); :data:`settings.RULE_IMPACT_PREVIEW_MAX_RECORDS` bounds it.

A connector is touched only if the rule is turned on for it, its CSAM module is on and the attributes change:
a new name or description changes no match, so Apply then just saves.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from django.db import transaction

from connectors.choices import ConnectorAction
from connectors.models import Connector, ConnectorEvent

from .impact import Plan, plan_reidentification
from .impact_apply import _lock_inventory, execute_plan
from .impact_previews import summary
from .impact_proposal import current_proposal, engine_config_for
from .inventory import update_identification_rule
from .models import Asset, IdentificationRule, RuleSelection, SourceRecord

Progress = Callable[[int, int], None]
#: The counters summed over connectors for the totals (as :meth:`assets.impact.Plan.counts` names them).
_TOTALS = ("records", "assets")


class _RolledBack(Exception):
    """Raised at the end of a preview's run to roll its transaction back, carrying the result out."""

    def __init__(self, result: dict) -> None:
        super().__init__("preview rolled back")
        self.result = result


def touched_connectors(rule: IdentificationRule, attributes: Sequence[str]) -> list[Connector]:
    """The connectors whose records a change of ``rule``'s attributes to ``attributes`` re-identifies, in the
    fixed order Apply uses (creation order): the rule on, the CSAM module on. None if the attributes are the same."""
    if list(attributes) == list(rule.attributes):
        return []
    using = RuleSelection.objects.filter(rule=rule, enabled=True).values("connector_id")
    return [connector for connector in Connector.objects.filter(pk__in=using).order_by("pk") if connector.csam_enabled]


def records_to_reidentify(connectors: Sequence[Connector]) -> int:
    """Live source records of these connectors (what a run reads; its progress total)."""
    return SourceRecord.objects.filter(connector__in=[c.pk for c in connectors], deleted=False).count()


def run_definition_change(
    rule_id: int, definition: dict, *, actor=None, progress: Progress | None = None, examples: bool = False
) -> dict:
    """Save ``definition`` ({"name", "attributes", "description"}) on the rule and re-identify the connectors it
    touches, one after the other (module docstring). Must run inside a transaction (Apply commits it, the
    preview rolls it back). Returns per-connector and total counts, each as ``execute_plan`` observed them;
    with ``examples``, each connector's examples too. ``progress(read, total)`` counts records over all of them.
    Raises ``ValidationError`` if the definition is not valid (now)."""
    _lock_inventory()
    rule = IdentificationRule.objects.select_for_update().get(pk=rule_id)
    connectors = touched_connectors(rule, definition["attributes"])
    total = records_to_reidentify(connectors)
    update_identification_rule(
        rule,
        name=definition["name"],
        attributes=definition["attributes"],
        description=definition.get("description", ""),
        actor=actor,
    )
    first_new_asset = (Asset.objects.order_by("-pk").values_list("pk", flat=True).first() or 0) + 1
    done_before = 0
    entries = []
    for connector in connectors:

        def step(read: int, _: int, offset=done_before) -> None:
            if progress:
                progress(offset + read, max(total, offset + read))

        plan = plan_reidentification(
            connector, engine_config_for(connector, current_proposal(connector)), progress=step
        )
        shown = summary(plan) if examples else {}
        done = execute_plan(connector, plan, actor=actor)
        _record(connector, rule, done, actor)
        entries.append(_entry(connector, plan, done, shown))
        done_before += len(plan.items)
    if progress:
        progress(total, total)
    result = {"connectors": entries, **_sum(entries)}
    if examples:
        _mark_simulated_assets(result, first_new_asset)
    return result


def _record(connector: Connector, rule: IdentificationRule, done: dict, actor) -> None:
    records = done["records"]
    ConnectorEvent.record(
        connector,
        ConnectorAction.RULES_CHANGED,
        actor,
        reidentified=f"rule {rule.name} redefined; {records['total']} records: {records['moved']} moved into other "
        f"assets, {records['created']} split into new assets, {records['skipped']} skipped, "
        f"{records['unchanged']} unchanged",
    )


def _entry(connector: Connector, plan: Plan, done: dict, shown: dict) -> dict:
    entry = {"id": connector.pk, "uuid": str(connector.uuid), "name": connector.name, **done}
    for key in ("examples", "emptied", "joined"):
        if key in shown:
            entry[key] = shown[key]
    return entry


def _sum(entries: list[dict]) -> dict:
    """The per-connector counters added up (the page's totals)."""
    totals: dict[str, dict[str, int]] = {}
    for group in _TOTALS:
        names = {name for entry in entries for name in entry[group]}
        totals[group] = {name: sum(entry[group].get(name, 0) for entry in entries) for name in sorted(names)}
    return totals


def _mark_simulated_assets(result: dict, first_new_asset: int) -> None:
    """Assets the run created before a later connector's examples named them are gone after the rollback:
    shown by name, without a link (ids at or above ``first_new_asset`` were made by the run)."""
    created = {str(uuid) for uuid in Asset.objects.filter(pk__gte=first_new_asset).values_list("uuid", flat=True)}
    if not created:
        return

    def fix(ref):
        if isinstance(ref, dict) and ref.get("uuid") in created:
            return {"name": f"{ref['name']} (new, from a connector before)", "uuid": ""}
        return ref

    for entry in result["connectors"]:
        for rows in entry.get("examples", {}).values():
            for row in rows:
                row["from"], row["to"] = fix(row["from"]), fix(row["to"])
        for row in entry.get("emptied", []) + entry.get("joined", []):
            row["asset"], row["into"] = fix(row["asset"]), fix(row["into"])


def apply_definition_change(rule_id: int, definition: dict, *, actor=None) -> dict:
    """Save the definition and re-identify every connector it touches, in one transaction that commits."""
    with transaction.atomic():
        return run_definition_change(rule_id, definition, actor=actor)


def preview_definition_change(rule_id: int, definition: dict, *, progress: Progress | None = None) -> dict:
    """What :func:`apply_definition_change` would do, with examples: the same run, rolled back."""
    try:
        with transaction.atomic():
            raise _RolledBack(run_definition_change(rule_id, definition, progress=progress, examples=True))
    except _RolledBack as rolled_back:
        return rolled_back.result
