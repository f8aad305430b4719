"""The rule selection model moves to the assets app (as ``assets.RuleSelection``); its table and rows stay.

State only: the table is dropped from this app's state here and taken over by ``assets`` 0008, with no SQL.
No dependency on ``assets``: connectors' models and migrations depend on nothing of the inventory from here on.
"""

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("connectors", "0001_initial"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[migrations.DeleteModel(name="ConnectorRule")],
            database_operations=[],
        ),
    ]
