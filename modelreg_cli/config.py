"""Where the registry is and which token to send: flags, then environment, then the token file."""

from __future__ import annotations

import os
from pathlib import Path

from .errors import usage

URL_ENV = "REGISTRY_URL"
TOKEN_ENV = "REGISTRY_TOKEN"  # noqa: S105 - a variable name, not a secret
PASSWORD_ENV = "REGISTRY_PASSWORD"  # noqa: S105 - a variable name, not a secret


def config_dir() -> Path:
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "modelreg"


def token_path() -> Path:
    return config_dir() / "token"


def resolve_url(flag: str | None) -> str:
    """The registry's base URL without a trailing slash (an /api/v1 suffix is tolerated)."""
    url = (flag or os.environ.get(URL_ENV) or "").strip()
    if not url:
        raise usage(
            f"No registry URL: set {URL_ENV} or pass --url (e.g. https://registry.example)."
        )
    if not url.startswith(("http://", "https://")):
        raise usage(f"The registry URL must start with http:// or https:// (got {url!r}).")
    url = url.rstrip("/")
    for suffix in ("/api/v1", "/api"):
        if url.endswith(suffix):
            url = url[: -len(suffix)]
            break
    return url


def resolve_token(flag: str | None) -> str | None:
    """--token, else REGISTRY_TOKEN, else the file `modelreg login` saved, else None."""
    if flag:
        return flag.strip()
    env = os.environ.get(TOKEN_ENV, "").strip()
    if env:
        return env
    try:
        saved = token_path().read_text(encoding="utf-8").strip()
    except OSError:
        return None
    return saved or None


def save_token(token: str) -> Path:
    """Write the token readable by its owner only (0600) in a 0700 directory."""
    path = token_path()
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    # Open with the final mode so the token is never briefly readable by others; chmod
    # as well in case the file already existed with looser permissions.
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.fchmod(fd, 0o600)
        os.write(fd, (token + "\n").encode("utf-8"))
    finally:
        os.close(fd)
    return path


def forget_token() -> bool:
    try:
        token_path().unlink()
    except FileNotFoundError:
        return False
    return True
