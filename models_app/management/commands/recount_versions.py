"""`manage.py recount_versions`: set every model's per-stage version counts from its versions.

The counts are kept as versions are saved; this repairs them after rows were written around
the application (a bulk load, a partial restore). It prints the models it corrected.
"""

from __future__ import annotations

from django.core.management.base import BaseCommand

from models_app import services


class Command(BaseCommand):
    help = "Recount each model's versions per stage and correct the stored counts."

    def handle(self, *args, **options):
        fixed = services.stage_counts_recount()
        for name in fixed:
            self.stdout.write(f"corrected {name}")
        self.stdout.write(f"{len(fixed)} model(s) corrected.")
