"""A paginator for lists that grow with every change: it counts at most a cap of rows.

Django's Paginator counts every row of its list to number the pages, which reads the
whole table on every page once it holds millions of rows. `CappedPaginator` counts at most
`LIST_COUNT_CAP` rows (a COUNT over a LIMITed subquery); templates show "10,000+" for a
list with more, and the rows past the cap are reached through filters and searches. The
admin's big lists and the dashboard's growing lists (the webhook deliveries, the review
inbox, the models) use it.
"""

from __future__ import annotations

from django.core.paginator import Paginator
from django.utils.functional import cached_property

# Rows a list counts at most. Counting 10,000 index entries takes a few milliseconds;
# past that, a list says "10,000+" and a filter or a search narrows it.
LIST_COUNT_CAP = 10_000


class CappedPaginator(Paginator):
    """A paginator that counts at most `cap` rows of its queryset.

    `count` is the number of rows up to `cap`; `capped` tells whether there are more. The
    count reads at most cap + 1 rows, in no particular order (the ordering is dropped from
    the counting subquery, so the database reads the first rows it finds). Pages beyond
    the cap are not offered.
    """

    cap = LIST_COUNT_CAP

    @cached_property
    def counted(self) -> int:
        """The rows counted: the real number up to `cap`, else cap + 1."""
        return self.object_list.order_by()[: self.cap + 1].count()

    @cached_property
    def count(self) -> int:
        return min(self.counted, self.cap)

    @property
    def capped(self) -> bool:
        return self.counted > self.cap

    @property
    def cap_label(self) -> str:
        return f"{self.cap:,}"

    @property
    def count_label(self) -> str:
        """The count as the admin shows it: "10,000+" for a capped list."""
        return f"{self.cap:,}+" if self.capped else f"{self.count:,}"
