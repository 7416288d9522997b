"""An authentication backend for the tests: what an LDAP or OIDC backend would be to the
registry, a source of permissions other than Django's groups."""

from __future__ import annotations

from django.contrib.auth.backends import BaseBackend

# username → permissions ("app_label.codename") this backend grants.
GRANTS = {"directory_release": {"models_app.promote_version"}}


class DirectoryBackend(BaseBackend):
    """Authenticates no one; grants GRANTS to the users it names."""

    def get_all_permissions(self, user_obj, obj=None):
        if not user_obj.is_active or user_obj.is_anonymous or obj is not None:
            return set()
        return set(GRANTS.get(user_obj.get_username(), ()))
