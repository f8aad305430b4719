"""The one shape of an audit trail, shared by the apps: who did what to which subject, and when.

A trail must still read after its subject is deleted, so each row keeps the subject's name next to a nullable
foreign key that deletion sets to NULL. Rows are written with :meth:`AuditEvent.record` by the service function that
makes the change, in its transaction.
"""

from __future__ import annotations

from typing import Any, ClassVar

from django.conf import settings
from django.db import models


def acting_user(actor: Any):
    """The user to record as the actor: ``None`` for no one, an anonymous user or a system process."""
    return actor if actor is not None and getattr(actor, "is_authenticated", False) else None


class AuditEvent(models.Model):
    """Base of an audit model. A subclass declares its subject as ``<subject_field>`` (a nullable foreign key with
    ``on_delete=SET_NULL``) and ``<subject_field>_name``, plus an ``action`` with its own choices."""

    subject_field: ClassVar[str]

    actor = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    details = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        abstract = True
        ordering = ["-id"]

    def __str__(self) -> str:
        return f"{self.subject_name}: {self.action}"

    @property
    def subject_name(self) -> str:
        return getattr(self, f"{self.subject_field}_name")

    @classmethod
    def record(cls, subject: models.Model, action: str, actor: Any = None, **details: Any) -> AuditEvent:
        """Write one row: ``action`` done to ``subject`` by ``actor``, with ``details`` as JSON."""
        return cls.objects.create(
            **{cls.subject_field: subject, f"{cls.subject_field}_name": subject.name},
            action=action,
            actor=acting_user(actor),
            details=details,
        )
