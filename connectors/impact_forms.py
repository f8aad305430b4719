"""The form that proposes a change to a connector's identification rules and options, for an impact preview."""

from __future__ import annotations

from django import forms

from assets.impact_proposal import Proposal, ProposalError, current_proposal, parse_proposal


class ImpactProposalForm(forms.Form):
    """Every rule of the connector with its Required switch and its place, and the options. Places are numbers
    (no drag and drop, no JavaScript); equal numbers keep the current order between them. The configuration as
    saved is a valid proposal too: it re-identifies the records under the current rules (after a rule
    definition changed, say)."""

    create_unmanaged = forms.BooleanField(
        label="Create unmanaged asset",
        required=False,
        help_text="When no rule matches a record, create a new unmanaged asset. Off: the record is skipped.",
    )
    apply_default_rule = forms.BooleanField(
        label="Apply default rule",
        required=False,
        help_text="When a rule matches several assets, choose one of them and stop. Off: go on to the next rule.",
    )
    trust_rank = forms.IntegerField(
        label="Trust rank",
        min_value=1,
        max_value=100,
        help_text="1 to 100. Breaks ties between candidates; the most trusted source's values are shown.",
        error_messages={"required": "Enter a trust rank from 1 to 100."},
    )

    def __init__(self, *args, connector, **kwargs) -> None:
        self.connector = connector
        self.selection = list(connector.rule_selection.select_related("rule"))
        current = current_proposal(connector)
        kwargs.setdefault(
            "initial",
            {
                "create_unmanaged": current.create_unmanaged,
                "apply_default_rule": current.apply_default_rule,
                "trust_rank": current.trust_rank,
                **{f"required_{item.rule_id}": item.enabled for item in self.selection},
                **{f"position_{item.rule_id}": place for place, item in enumerate(self.selection, start=1)},
            },
        )
        super().__init__(*args, **kwargs)
        self.rows = []
        for item in self.selection:
            required = forms.BooleanField(label=f"Required: {item.rule.name}", required=False)
            position = forms.IntegerField(
                label=f"Place of {item.rule.name}",
                min_value=1,
                max_value=len(self.selection),
                error_messages={"required": "Give the rule a place."},
            )
            if item.rule.is_system:
                required.disabled = position.disabled = True
            self.fields[f"required_{item.rule_id}"] = required
            self.fields[f"position_{item.rule_id}"] = position
            self.rows.append((item, self[f"required_{item.rule_id}"], self[f"position_{item.rule_id}"]))

    def clean(self) -> dict:
        data = super().clean()
        if self.errors:
            return data
        order = sorted(
            enumerate(self.selection),
            key=lambda pair: (data[f"position_{pair[1].rule_id}"], pair[0]),
        )
        proposed = {
            "rules": [{"rule": item.rule_id, "enabled": bool(data[f"required_{item.rule_id}"])} for _, item in order],
            "create_unmanaged": data["create_unmanaged"],
            "apply_default_rule": data["apply_default_rule"],
            "trust_rank": data["trust_rank"],
        }
        try:
            proposal = parse_proposal(self.connector, proposed)
        except ProposalError as error:
            raise forms.ValidationError(str(error)) from error
        data["proposal"] = proposal
        return data

    @property
    def proposal(self) -> Proposal:
        return self.cleaned_data["proposal"]
