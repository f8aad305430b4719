"""A proposed identification configuration for one connector: its rules in order with their Required switches,
and its options (Create unmanaged asset, Apply default rule, trust rank). What an impact preview stores and what
Apply saves; checked against the connector's current rule selection with the same invariants as its rules page.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.conf import settings

from . import engine
from .models import RuleSelection


class ProposalError(ValueError):
    """The proposal cannot be previewed or applied; the message says why, for the admin who made it."""


@dataclass(frozen=True)
class Proposal:
    #: (rule id, required) in the proposed order, the system rule first.
    rules: tuple[tuple[int, bool], ...]
    create_unmanaged: bool
    apply_default_rule: bool
    trust_rank: int

    def as_json(self) -> dict:
        return {
            "rules": [{"rule": rule_id, "enabled": on} for rule_id, on in self.rules],
            "create_unmanaged": self.create_unmanaged,
            "apply_default_rule": self.apply_default_rule,
            "trust_rank": self.trust_rank,
        }


def _selection(connector) -> list[RuleSelection]:
    return list(RuleSelection.objects.filter(connector=connector).select_related("rule").order_by("position", "id"))


def current_proposal(connector) -> Proposal:
    """The connector's configuration as saved now."""
    return Proposal(
        rules=tuple((item.rule_id, item.enabled) for item in _selection(connector)),
        create_unmanaged=connector.create_unmanaged,
        apply_default_rule=connector.apply_default_rule,
        trust_rank=connector.trust_rank,
    )


def _flag(data: dict, name: str) -> bool:
    value = data.get(name)
    if not isinstance(value, bool):
        raise ProposalError(f"{name} must be true or false.")
    return value


def parse_proposal(connector, data: object) -> Proposal:
    """Check a proposal (as stored, :meth:`Proposal.as_json`) against the connector's current selection: each of
    its rules once, the system rule on (it is put first), at least one other rule on, options of the right type.
    Raises :class:`ProposalError`."""
    if not isinstance(data, dict) or not isinstance(data.get("rules"), list):
        raise ProposalError("The proposal must list the connector's rules.")
    selection = {item.rule_id: item for item in _selection(connector)}
    rules: list[tuple[int, bool]] = []
    for entry in data["rules"]:
        if not isinstance(entry, dict) or not isinstance(entry.get("rule"), int) or type(entry["rule"]) is bool:
            raise ProposalError("Each rule of the proposal needs a rule id.")
        rules.append((entry["rule"], _flag(entry, "enabled")))
    if sorted(rule_id for rule_id, _ in rules) != sorted(selection):
        raise ProposalError(
            "The connector's rules changed since this change was proposed (a rule was added or deleted): "
            "propose it again."
        )
    system = [(rule_id, on) for rule_id, on in rules if selection[rule_id].rule.is_system]
    if any(not on for _, on in system):
        raise ProposalError("Source native key is a system rule and cannot be turned off.")
    others = [(rule_id, on) for rule_id, on in rules if not selection[rule_id].rule.is_system]
    if not any(on for _, on in others):
        raise ProposalError("At least one identification rule besides Source native key must stay on.")
    rank = data.get("trust_rank")
    if not isinstance(rank, int) or isinstance(rank, bool) or not 1 <= rank <= 100:
        raise ProposalError("The trust rank must be a whole number from 1 to 100.")
    return Proposal(
        rules=tuple(system + others),
        create_unmanaged=_flag(data, "create_unmanaged"),
        apply_default_rule=_flag(data, "apply_default_rule"),
        trust_rank=rank,
    )


def engine_config_for(connector, proposal: Proposal) -> engine.EngineConfig:
    """What the engine applies under the proposal: its enabled rules in order (as ``services.engine_config``
    builds it from the saved selection)."""
    rules = {item.rule_id: item.rule for item in _selection(connector)}
    return engine.EngineConfig(
        trust_rank=proposal.trust_rank,
        rules=tuple(
            engine.RuleSpec(rule_id, rules[rule_id].name, tuple(rules[rule_id].attributes))
            for rule_id, on in proposal.rules
            if on and rule_id in rules and not rules[rule_id].is_system
        ),
        create_unmanaged=proposal.create_unmanaged,
        apply_default_rule=proposal.apply_default_rule,
        shared_limit=settings.IDENTIFIER_SHARED_LIMIT,
    )


def describe_changes(connector, proposal: Proposal) -> list[str]:
    """What the proposal changes, in words (empty: nothing)."""
    now = current_proposal(connector)
    names = {item.rule_id: item.rule.name for item in _selection(connector)}
    changes = []
    before, after = dict(now.rules), dict(proposal.rules)
    for rule_id, on in proposal.rules:
        if before.get(rule_id) != on:
            changes.append(f"{names[rule_id]}: {'off → required' if on else 'required → off'}")
    if [rule_id for rule_id, _ in now.rules] != [rule_id for rule_id, _ in proposal.rules]:
        enabled = [names[rule_id] for rule_id, _ in proposal.rules if after[rule_id]]
        changes.append("Order of the rules that are on: " + " → ".join(enabled))
    for name, label in (("create_unmanaged", "Create unmanaged asset"), ("apply_default_rule", "Apply default rule")):
        if getattr(now, name) != getattr(proposal, name):
            changes.append(f"{label}: {'on' if getattr(proposal, name) else 'off'}")
    if now.trust_rank != proposal.trust_rank:
        changes.append(f"Trust rank: {now.trust_rank} → {proposal.trust_rank}")
    return changes
