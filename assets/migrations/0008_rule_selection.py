"""``assets.RuleSelection`` takes over the rule selection table that ``connectors`` created (``connectors_connectorrule``).

State only: the table, its rows, indexes and the unique constraint are left as they are.
"""

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("assets", "0007_index_tuning"),
        ("connectors", "0002_rule_selection_moves_to_assets"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.CreateModel(
                    name="RuleSelection",
                    fields=[
                        ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                        ("position", models.PositiveIntegerField()),
                        ("enabled", models.BooleanField(default=True, verbose_name="Required")),
                        (
                            "connector",
                            models.ForeignKey(
                                on_delete=django.db.models.deletion.CASCADE,
                                related_name="rule_selection",
                                to="connectors.connector",
                            ),
                        ),
                        (
                            "rule",
                            models.ForeignKey(
                                on_delete=django.db.models.deletion.CASCADE,
                                related_name="selections",
                                to="assets.identificationrule",
                            ),
                        ),
                    ],
                    options={
                        "db_table": "connectors_connectorrule",
                        "ordering": ["position", "id"],
                        "constraints": [
                            models.UniqueConstraint(fields=("connector", "rule"), name="unique_rule_per_connector")
                        ],
                    },
                ),
            ],
            database_operations=[],
        ),
    ]
