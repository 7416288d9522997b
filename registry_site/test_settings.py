"""Settings for the test suite: the real settings with a throwaway secret key.

Tests run with DEBUG off (pytest-django forces it), so the key must come from somewhere;
it never reaches a deployment because only pytest names this module.
"""

import os

os.environ.setdefault("SECRET_KEY", "test-suite-secret-key-not-for-deployments-0123456789")

from registry_site.settings import *  # noqa: F403

# Password hashing dominates test time; a fast hasher keeps the suite quick.
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
STORAGES["staticfiles"] = {  # noqa: F405
    "BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"
}
# Tests speak plain HTTP to the test client and to pytest-django's live server; the
# redirect to HTTPS (on whenever DEBUG is off) would answer every request with a 301.
SECURE_SSL_REDIRECT = False
# Serve static files from the app folders, as runserver does: tests do not collectstatic.
WHITENOISE_USE_FINDERS = True
WHITENOISE_AUTOREFRESH = True
# Counters of failed logins live in the test database, which every test starts empty,
# even when REDIS_URL is set; tests/test_login_limits.py puts them in Redis on purpose.
CACHES.pop("axes", None)  # noqa: F405
AXES_CACHE = "default"
AXES_HANDLER = "axes.handlers.database.AxesDatabaseHandler"
