"""The record of who added, re-roled or removed whom in a project (``MembershipChange``)."""

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models

ROLES = [("owner", "Owner"), ("reviewer", "Reviewer"), ("annotator", "Annotator"), ("viewer", "Viewer")]


class Migration(migrations.Migration):
    dependencies = [
        ("traces", "0008_model_endpoints"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.CreateModel(
            name="MembershipChange",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("actor_name", models.CharField(blank=True, default="", max_length=150)),
                ("subject_name", models.CharField(max_length=150)),
                ("old_role", models.CharField(blank=True, choices=ROLES, default="", max_length=16)),
                ("new_role", models.CharField(blank=True, choices=ROLES, default="", max_length=16)),
                (
                    "account_created",
                    models.BooleanField(default=False, help_text="The actor created the subject's account"),
                ),
                ("at", models.DateTimeField(auto_now_add=True)),
                (
                    "actor",
                    models.ForeignKey(
                        blank=True,
                        null=True,
                        on_delete=django.db.models.deletion.SET_NULL,
                        related_name="+",
                        to=settings.AUTH_USER_MODEL,
                    ),
                ),
                (
                    "project",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="membership_changes",
                        to="traces.project",
                    ),
                ),
                (
                    "subject",
                    models.ForeignKey(
                        blank=True,
                        null=True,
                        on_delete=django.db.models.deletion.SET_NULL,
                        related_name="+",
                        to=settings.AUTH_USER_MODEL,
                    ),
                ),
            ],
            options={
                "indexes": [models.Index(fields=["project", "-at"], name="membership_change_recent_idx")],
                "constraints": [
                    models.CheckConstraint(
                        condition=models.Q(
                            models.Q(("new_role", ""), ("old_role", ""), _negated=True),
                            models.Q(("old_role", models.F("new_role")), _negated=True),
                        ),
                        name="membership_change_changes",
                    )
                ],
            },
        ),
    ]
