"""Template context shared by every dashboard page."""

from __future__ import annotations

from django.utils.functional import SimpleLazyObject

from .selectors import review_inbox

# The navigation bar counts the review inbox up to this many versions, then says "99+".
INBOX_COUNT_CAP = 99


def review_inbox_count(request) -> dict:
    """How many versions wait for the signed-in user's review, for the navigation bar.

    One COUNT query, made only when a template shows it (lazy), and none for anonymous
    visitors. The settings name this processor for every page (the navigation bar is
    site-wide); it lives with the inbox it counts.

    The count is bounded two ways, as it runs on every page: it stops at 100 versions
    (the bar then says "99+"), and it starts from the versions in staging (a few per
    model, never every version) and looks each one's card up in the partial index
    card_review_requested, which holds only the cards whose review was requested.
    """
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {}

    def count() -> int | str:
        waiting = review_inbox(user=user).order_by()[: INBOX_COUNT_CAP + 1].count()
        return f"{INBOX_COUNT_CAP}+" if waiting > INBOX_COUNT_CAP else waiting

    return {"inbox_count": SimpleLazyObject(count)}
