from __future__ import annotations

from django import forms
from django.core.exceptions import ValidationError

from .choices import IdentifierKind
from .inventory import clean_rule_definition
from .models import Asset, IdentificationRule

ORDINALS = ("1st", "2nd", "3rd", "4th", "5th", "6th", "7th")


class RuleForm(forms.Form):
    """A rule definition: a name and an ordered list of attributes, one select per position.

    The order is the order shown on connectors' rules pages and in decisions; all attributes must match whatever
    the order. Empty positions are skipped, so "1st, 3rd" is the same as "1st, 2nd".
    """

    name = forms.CharField(max_length=100)
    description = forms.CharField(max_length=300, required=False, help_text="Shown next to the rule's name.")

    def __init__(self, *args, instance: IdentificationRule | None = None, **kwargs):
        self.instance = instance
        if instance is not None:
            initial = {"name": instance.name, "description": instance.description}
            for index, attribute in enumerate(instance.attributes[: len(ORDINALS)], start=1):
                initial[f"attribute_{index}"] = attribute
            kwargs.setdefault("initial", initial)
        super().__init__(*args, **kwargs)
        for index, ordinal in enumerate(ORDINALS[: len(IdentifierKind.choices)], start=1):
            self.fields[f"attribute_{index}"] = forms.ChoiceField(
                label=f"{ordinal} attribute",
                choices=[("", "—" if index > 1 else "Choose…"), *IdentifierKind.choices],
                required=False,
            )

    @property
    def attribute_fields(self) -> list[forms.BoundField]:
        return [self[name] for name in self.fields if name.startswith("attribute_")]

    def clean(self) -> dict:
        data = super().clean()
        attributes = [data[name] for name in self.fields if name.startswith("attribute_") and data.get(name)]
        try:
            data["name"], data["attributes"] = clean_rule_definition(
                data.get("name", ""), attributes, instance=self.instance
            )
        except ValidationError as error:
            for field, messages in error.message_dict.items():
                for message in messages:
                    self.add_error(field if field == "name" else None, message)
        return data


class MergeForm(forms.Form):
    """One duplicates group: the assets to merge (at least two) and the one that survives."""

    survivor = forms.UUIDField(error_messages={"required": "Choose the asset to keep."})
    assets = forms.TypedMultipleChoiceField(choices=(), required=True)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # Choices are checked against the database in clean(), not against a list made up front.
        self.fields["assets"].valid_value = lambda value: True

    def clean(self) -> dict:
        data = super().clean()
        survivor, chosen = data.get("survivor"), data.get("assets") or []
        if survivor is None or not chosen:
            return data
        uuids = {str(value) for value in chosen} | {str(survivor)}
        try:
            assets = {str(asset.uuid): asset for asset in Asset.objects.filter(uuid__in=uuids)}
        except ValidationError as error:
            raise ValidationError("Some of the chosen assets are not valid asset ids.") from error
        if len(assets) != len(uuids):
            raise ValidationError("Some of the chosen assets no longer exist.")
        if len(uuids) < 2:
            raise ValidationError("Choose at least two assets to merge.")
        if any(asset.merged_into_id for asset in assets.values()):
            raise ValidationError("Some of the chosen assets were merged already; reload the page.")
        data["survivor_asset"] = assets.pop(str(survivor))
        data["other_assets"] = list(assets.values())
        return data
