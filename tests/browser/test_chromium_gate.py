"""Without chromium the browser tests skip with the install command, but fail in CI."""

from __future__ import annotations

import pytest

from tests.browser import conftest


def test_missing_chromium_skips_with_install_hint_outside_ci(monkeypatch, tmp_path):
    monkeypatch.setattr(conftest, "CHROMIUM", tmp_path / "no-chromium")
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception, match="chromium not installed: apt-get install"):
        conftest._require_chromium()


def test_missing_chromium_fails_in_ci(monkeypatch, tmp_path):
    monkeypatch.setattr(conftest, "CHROMIUM", tmp_path / "no-chromium")
    monkeypatch.setenv("CI", "1")
    with pytest.raises(pytest.fail.Exception, match="CI must run the browser tests"):
        conftest._require_chromium()
