"""Template context shared by every dashboard page."""

from __future__ import annotations

from django.utils.functional import SimpleLazyObject


def review_inbox_count(request) -> dict:
    """How many versions wait for the signed-in user's review, for the navigation bar.

    One COUNT query, made only when a template shows it (lazy), and none for anonymous
    visitors. The inbox belongs to approvals_app; it is imported here, at call time,
    because the navigation bar is site-wide and settings name this module.
    """
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {}

    def count() -> int:
        from approvals_app.selectors import review_inbox

        return review_inbox(user=user).count()

    return {"inbox_count": SimpleLazyObject(count)}
