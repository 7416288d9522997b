"""A migration no test database has applied: GET /readyz must notice it."""

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = []
    operations = []
