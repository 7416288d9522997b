"""URL routes (filled in by the issue that builds this door)."""

urlpatterns: list = []
