"""The admin's lists of large tables: counted up to a cap, filtered by choices written in
code, searched through indexes and sorted in an index's order.

A registry keeps every version, card revision, review, audit event and history row, so
these tables reach millions of rows. Django's admin counts every row of a list (twice,
unless `show_full_result_count` is off), finds a list filter's choices with a DISTINCT
over the whole table, and searches with a case-insensitive substring match that no
ordinary index serves. Each of these reads the whole table on every page. Here:

- `CappedPaginator` (models_app.paging) counts at most `LIST_COUNT_CAP` rows (a COUNT over
  a LIMITed subquery), and the admin's templates (templates/admin/) show "10,000+" for such a list
  instead of a total that was never counted. The first 10,000 rows can be paged through;
  the filters and the search reach the others.
- `choices_filter` makes a list filter whose choices are an enum of the code (the stages,
  the audit actions), so showing the filter reads nothing.
- `VersionSearch` looks a model up by its exact name (and a version by its exact label),
  which the indexes answer.
"""

from __future__ import annotations

from collections.abc import Iterable

from django.contrib import admin

from .models import RegisteredModel
from .paging import CappedPaginator


class LargeListAdmin:
    """Mixed into the ModelAdmin of a table that grows with every change (put it first).

    The list counts at most LIST_COUNT_CAP rows and never counts the whole table for the
    "N total" of a search; facet counts (`?_facets`) are not offered, since each would
    count the table once per choice.
    """

    paginator = CappedPaginator
    show_full_result_count = False
    show_facets = admin.ShowFacets.NEVER


def choices_filter(
    field: str, choices: Iterable[tuple[str, str]], title: str
) -> type[admin.SimpleListFilter]:
    """A list filter on `field` whose choices are (value, label) pairs written in code.

    Django's filter for a plain text column lists its values with a SELECT DISTINCT over
    the table; this one lists `choices` and reads nothing to show them. Its query string
    parameter is `<field>__exact`, as Django's own filter's, so links keep working. A
    value that is not one of the choices is matched as stored (an audit event of a type
    this code does not know is still found by it).
    """
    known = dict(choices)

    class ChoicesFilter(admin.SimpleListFilter):
        parameter_name = f"{field}__exact"

        def lookups(self, request, model_admin):
            return list(known.items())

        def queryset(self, request, queryset):
            value = self.value()
            if value is None:
                return queryset
            return queryset.filter(**{field: value})

    ChoicesFilter.title = title
    ChoicesFilter.__name__ = ChoicesFilter.__qualname__ = (
        "".join(part.title() for part in field.split("_")) + "Filter"
    )
    return ChoicesFilter


class VersionSearch:
    """The search box of a list of versions, or of what belongs to versions (cards, card
    revisions, reviews): a model's exact name, optionally followed by a version label.

    `version_path` is the path from the listed model to its ModelVersion ("" for versions
    themselves, "model_version__" for cards and reviews). The model's name is matched
    whatever its case (the models table is small, and on PostgreSQL its trigram index
    serves the match), then its rows through the indexes that start with the model; the
    version label exactly, through the unique (model, version) index. A substring search
    over the joined columns would read every row instead.
    """

    version_path = ""
    search_help_text = (
        "Search by a model's exact name, optionally followed by a version: "
        "fraud_detector, or fraud_detector 1.2.0. Use the filters for stages and dates."
    )

    def get_search_fields(self, request):
        return (f"={self.version_path}registered_model__name",)

    def get_search_results(self, request, queryset, search_term):
        words = search_term.split()
        if not words:
            return queryset, False
        if len(words) > 2:
            return queryset.none(), False
        # The model's ids are looked up first (one small query), so that the database
        # plans the list with the id itself and reads that model's rows in index order,
        # however many versions it has.
        models = RegisteredModel.objects.filter(name__iexact=words[0])
        path = self.version_path
        lookups = {f"{path}registered_model_id__in": list(models.values_list("pk", flat=True))}
        if len(words) == 2:
            lookups[f"{path}version"] = words[1]
        return queryset.filter(**lookups), False
