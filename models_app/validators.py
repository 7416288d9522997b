"""Validation of everything a user hands the registry: names, versions, metrics, tags, URIs.

Each validator raises django.core.exceptions.ValidationError with a message a person can
act on; the API and the forms turn it into a 400 answer.
"""

from __future__ import annotations

import math
import posixpath
import re
import unicodedata
from dataclasses import dataclass
from urllib.parse import unquote_to_bytes, urlsplit

from django.conf import settings
from django.core.exceptions import ValidationError

from .card_sections import SECTION_NAMES

# Each pattern is applied with fullmatch: with match, "$" also matches before a trailing
# newline, so "fraud_detector\n" would pass for a second name that looks the same.
MODEL_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$")

# The regular expression published with SemVer 2.0.0 (semver.org, "Is there a suggested
# regular expression"), unchanged but for the named groups.
SEMVER_RE = re.compile(
    r"^(?P<major>0|[1-9]\d*)\.(?P<minor>0|[1-9]\d*)\.(?P<patch>0|[1-9]\d*)"
    r"(?:-(?P<prerelease>(?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*)"
    r"(?:\.(?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*))*))?"
    r"(?:\+(?P<build>[0-9a-zA-Z-]+(?:\.[0-9a-zA-Z-]+)*))?$"
)
SEMVER_MAX_LENGTH = 64
_NUMBER_LIMIT = 2**63  # numeric parts are stored as 8-byte integers in the sort key

TAG_KEY_MAX = 250
TAG_VALUE_MAX = 5000
TAGS_MAX = 100
METRIC_NAME_RE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.\-/ ]{0,249}$")
METRICS_MAX = 200


def validate_model_name(name: object) -> str:
    if not isinstance(name, str) or not MODEL_NAME_RE.fullmatch(name):
        raise ValidationError(
            "A model name is 1 to 100 characters of letters, digits, '_', '.' and '-', "
            "starting with a letter or digit.",
            code="invalid_name",
        )
    return name


def validate_plain_text(value: object, *, field: str, max_length: int, multiline: bool) -> str:
    """Refuse NUL, control characters and bidirectional overrides in user text."""
    if not isinstance(value, str):
        raise ValidationError(f"{field} must be a string.", code="invalid")
    if len(value) > max_length:
        raise ValidationError(f"{field} is longer than {max_length} characters.", code="max_length")
    allowed = {"\n", "\r", "\t"} if multiline else set()
    for char in value:
        category = unicodedata.category(char)
        if char in allowed:
            continue
        if category == "Cc" or (category == "Cf" and _is_bidi_control(char)):
            raise ValidationError(
                f"{field} contains a control or bidirectional-override character "
                f"(U+{ord(char):04X}).",
                code="invalid_character",
            )
        if category == "Cs":
            # Only a JSON escape can carry half of a surrogate pair; no database stores it.
            raise ValidationError(
                f"{field} contains an unpaired surrogate (U+{ord(char):04X}).",
                code="invalid_character",
            )
    return value


# Characters that show as nothing or that reorder text: control characters, format
# characters (zero-width space and joiners U+200B-U+200D, marks U+200E/F, bidi controls,
# word joiner and invisible operators U+2060-U+2064, BOM U+FEFF, soft hyphen U+00AD),
# line and paragraph separators and surrogates; and the letters and mark that draw nothing
# (combining grapheme joiner, Hangul fillers).
_INVISIBLE_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Zl", "Zp"})
_INVISIBLE_OTHERS = frozenset("\u034f\u115f\u1160\u3164\uffa0")


def validate_visible_text(value: str, *, field: str) -> str:
    """Refuse invisible characters in a key or name, which is compared character by
    character: "owner" followed by a zero-width space would be a second key that prints
    exactly like "owner"."""
    for char in value:
        if unicodedata.category(char) in _INVISIBLE_CATEGORIES or char in _INVISIBLE_OTHERS:
            raise ValidationError(
                f"{field} contains an invisible or control character (U+{ord(char):04X}); "
                "keys and names hold visible characters only.",
                code="invalid_character",
            )
    return value


def _is_bidi_control(char: str) -> bool:
    return char in "\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\u200e\u200f\u061c"


# --- SemVer ---------------------------------------------------------------------------


@dataclass(frozen=True)
class SemVer:
    """A parsed SemVer 2.0 version; `sort_key` orders versions by SemVer precedence."""

    major: int
    minor: int
    patch: int
    prerelease: tuple[str, ...]
    build: str

    @classmethod
    def parse(cls, text: object) -> SemVer:
        if not isinstance(text, str) or len(text) > SEMVER_MAX_LENGTH:
            raise ValidationError(
                f"A version is a SemVer 2.0 string of at most {SEMVER_MAX_LENGTH} "
                "characters, such as 2.1.0 or 3.0.0-rc.1.",
                code="invalid_version",
            )
        match = SEMVER_RE.fullmatch(text)
        if not match:
            raise ValidationError(
                f"'{_printable(text)}' is not a SemVer 2.0 version "
                "(MAJOR.MINOR.PATCH, e.g. 2.1.0 or 3.0.0-rc.1).",
                code="invalid_version",
            )
        parts = [int(match[name]) for name in ("major", "minor", "patch")]
        prerelease = tuple(match["prerelease"].split(".")) if match["prerelease"] else ()
        numbers = parts + [int(p) for p in prerelease if p.isdigit()]
        if any(n >= _NUMBER_LIMIT for n in numbers):
            raise ValidationError("Version numbers must be below 2^63.", code="invalid_version")
        return cls(*parts, prerelease=prerelease, build=match["build"] or "")

    @property
    def sort_key(self) -> str:
        """A lowercase hex string whose text order is SemVer precedence.

        Hex digits sort the same under every database collation, so ORDER BY on this
        column gives precedence order on SQLite and PostgreSQL alike. Numbers become
        8-byte big-endian integers; a release (0x02) sorts after any pre-release (0x01);
        numeric identifiers (0x01) sort before alphanumeric ones (0x02), which end with a
        0x00 byte so that a shorter identifier sorts first; a shorter list of
        identifiers is a prefix and so sorts first. Build metadata does not count.
        """
        out = bytearray()
        for number in (self.major, self.minor, self.patch):
            out += number.to_bytes(8, "big")
        if not self.prerelease:
            out.append(0x02)
        else:
            out.append(0x01)
            for ident in self.prerelease:
                if ident.isdigit():
                    out.append(0x01)
                    out += int(ident).to_bytes(8, "big")
                else:
                    out.append(0x02)
                    out += ident.encode("ascii") + b"\x00"
        return out.hex()


def _printable(text: str) -> str:
    return text.encode("unicode_escape").decode("ascii")[:80]


# --- Metrics, params and tags -----------------------------------------------------------


def validate_metrics(value: object) -> dict[str, float]:
    """Metric name → finite number. NaN, ±Infinity, booleans, strings and null are refused."""
    if not isinstance(value, dict):
        raise ValidationError("metrics must be an object of name → number.", code="invalid")
    if len(value) > METRICS_MAX:
        raise ValidationError(f"At most {METRICS_MAX} metrics.", code="invalid")
    clean: dict[str, float] = {}
    for name, number in value.items():
        if not isinstance(name, str) or not METRIC_NAME_RE.fullmatch(name):
            raise ValidationError(
                f"Metric name '{_printable(str(name))}' is not allowed: use 1 to 250 "
                "letters, digits, spaces and '_.-/', starting with a letter, digit or '_'.",
                code="invalid_metric",
            )
        if isinstance(number, bool) or not isinstance(number, int | float):
            raise ValidationError(
                f"Metric '{name}' must be a number, not {type(number).__name__}.",
                code="invalid_metric",
            )
        number = float(number)
        if not math.isfinite(number):
            raise ValidationError(
                f"Metric '{name}' must be a finite number (NaN and infinity are refused).",
                code="invalid_metric",
            )
        clean[name] = number
    return clean


def validate_tags(value: object) -> dict[str, str]:
    """Tags are string → string, without control characters."""
    if not isinstance(value, dict):
        raise ValidationError("tags must be an object of string → string.", code="invalid")
    if len(value) > TAGS_MAX:
        raise ValidationError(f"At most {TAGS_MAX} tags.", code="invalid")
    for key, text in value.items():
        if not isinstance(key, str) or not key:
            raise ValidationError("Tag keys must be non-empty strings.", code="invalid_tag")
        validate_plain_text(key, field="A tag key", max_length=TAG_KEY_MAX, multiline=False)
        validate_visible_text(key, field="A tag key")
        if not isinstance(text, str):
            raise ValidationError(f"Tag '{key}' must have a string value.", code="invalid_tag")
        validate_plain_text(text, field=f"Tag '{key}'", max_length=TAG_VALUE_MAX, multiline=False)
    return dict(value)


def validate_params(value: object) -> dict:
    """Training parameters: any JSON object whose keys and strings hold no NUL."""
    if not isinstance(value, dict):
        raise ValidationError("params must be an object.", code="invalid")
    _refuse_nul(value, "params")
    return value


def _refuse_nul(value: object, where: str, depth: int = 0) -> None:
    if depth > 32:
        raise ValidationError(f"{where} is nested too deeply.", code="invalid")
    if isinstance(value, str):
        if "\x00" in value:
            raise ValidationError(f"{where} contains a NUL character.", code="invalid")
    elif isinstance(value, dict):
        for key, item in value.items():
            _refuse_nul(key, where, depth + 1)
            _refuse_nul(item, where, depth + 1)
    elif isinstance(value, list):
        for item in value:
            _refuse_nul(item, where, depth + 1)
    elif isinstance(value, float) and not math.isfinite(value):
        raise ValidationError(f"{where} contains NaN or infinity.", code="invalid")


# --- Artifact URIs ------------------------------------------------------------------


def validate_artifact_uri(uri: object) -> str:
    """Accept a URI only with an allowed scheme and no path traversal in any encoding.

    The registry never opens a user-given URI; this check keeps a stored URI from
    pointing a downstream consumer somewhere it should not. The URI is percent-decoded
    until it stops changing, each step as strict UTF-8; backslashes count as separators,
    and any `..` segment (at any step), NUL, `;` parameter or fragment is refused.
    """
    if not isinstance(uri, str) or not uri:
        raise ValidationError("artifact_uri must be a non-empty string.", code="invalid_uri")
    if len(uri) > 2048:
        raise ValidationError("artifact_uri is longer than 2048 characters.", code="invalid_uri")
    validate_plain_text(uri, field="artifact_uri", max_length=2048, multiline=False)
    if any(c.isspace() for c in uri):
        raise ValidationError("artifact_uri must not contain spaces.", code="invalid_uri")
    parts = urlsplit(uri)
    scheme = parts.scheme.lower()
    allowed = [s.lower() for s in settings.REGISTRY_ARTIFACT_SCHEMES]
    if not scheme or scheme not in allowed:
        raise ValidationError(
            f"artifact_uri scheme '{_printable(scheme)}' is not allowed; allowed schemes: "
            f"{', '.join(allowed)}.",
            code="invalid_uri",
        )
    if parts.fragment or "#" in uri:
        raise ValidationError("artifact_uri must not have a fragment ('#').", code="invalid_uri")
    decoded = uri
    for _ in range(10):
        # Every decoding step is checked, not only the last: a consumer may decode once.
        _refuse_dot_dot(decoded)
        step = _unquote_strict(decoded)
        if step == decoded:
            break
        decoded = step
    else:
        raise ValidationError("artifact_uri is encoded too many times.", code="invalid_uri")
    if "\x00" in decoded:
        raise ValidationError("artifact_uri contains a NUL character.", code="invalid_uri")
    if ";" in decoded:
        raise ValidationError("artifact_uri must not contain ';'.", code="invalid_uri")
    if "#" in decoded:
        # An encoded '#' (%23) becomes a fragment for a consumer that decodes first.
        raise ValidationError("artifact_uri must not have a fragment ('#').", code="invalid_uri")
    normalised = decoded.replace("\\", "/")
    path = urlsplit(normalised).path if "://" in normalised else normalised.split(":", 1)[-1]
    if scheme in {"https"} and not parts.netloc:
        raise ValidationError("An https artifact_uri needs a host.", code="invalid_uri")
    if scheme in {"s3", "gs"} and not parts.netloc:
        raise ValidationError(f"A {scheme} artifact_uri needs a bucket.", code="invalid_uri")
    if scheme == "file":
        resolved = posixpath.normpath(path)
        if not resolved.startswith("/"):
            raise ValidationError("A file artifact_uri needs an absolute path.", code="invalid_uri")
    return uri


def _unquote_strict(text: str) -> str:
    """Percent-decode one level; refuse bytes that are not valid UTF-8.

    `unquote` would replace them with U+FFFD, letting an overlong form such as `%c0%af`
    (a '/' to lenient decoders) through unseen; the strict decoder refuses overlong forms,
    stray continuation bytes and surrogates.
    """
    try:
        return unquote_to_bytes(text).decode("utf-8")
    except UnicodeError as exc:  # also a lone surrogate, which cannot be encoded at all
        raise ValidationError(
            "artifact_uri is not valid UTF-8 once percent-decoded (for example an overlong "
            "encoding such as %c0%af, or a stray continuation byte such as %80).",
            code="invalid_uri",
        ) from exc


def _refuse_dot_dot(text: str) -> None:
    """Refuse a '..' path segment, with backslashes counted as separators."""
    normalised = text.replace("\\", "/")
    path = urlsplit(normalised).path if "://" in normalised else normalised.split(":", 1)[-1]
    if ".." in normalised.split("/") or any(s.strip() == ".." for s in path.split("/")):
        raise ValidationError(
            "artifact_uri must not contain '..' path segments.", code="invalid_uri"
        )


def validate_sha256(value: object) -> str:
    if not isinstance(value, str) or not re.fullmatch(r"[0-9a-f]{64}", value):
        raise ValidationError(
            "artifact_sha256 must be 64 lowercase hexadecimal characters.", code="invalid"
        )
    return value


# --- Promotion policies -----------------------------------------------------------------


def _number(value: object, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ValidationError(f"{what} must be a finite number.", code="invalid_policy")
    return float(value)


def validate_thresholds(value: object) -> list[dict]:
    """[{"metric": name, "min": x} or {"metric": name, "max": y}, …]"""
    if not isinstance(value, list):
        raise ValidationError("thresholds must be a list.", code="invalid_policy")
    clean = []
    for rule in value:
        if not isinstance(rule, dict) or not isinstance(rule.get("metric"), str):
            raise ValidationError(
                'Each threshold is {"metric": name, "min": number} or {"metric": name, '
                '"max": number}.',
                code="invalid_policy",
            )
        validate_metrics({rule["metric"]: 0.0})
        bounds = [k for k in ("min", "max") if k in rule]
        extra = set(rule) - {"metric", "min", "max"}
        if len(bounds) != 1 or extra:
            raise ValidationError(
                f"Threshold for {rule['metric']} needs exactly one of min or max.",
                code="invalid_policy",
            )
        clean.append(
            {"metric": rule["metric"], bounds[0]: _number(rule[bounds[0]], f"{bounds[0]} bound")}
        )
    return clean


def validate_key_metrics(value: object) -> list[dict]:
    """[{"metric": name, "direction": "higher"|"lower", "tolerance": ε ≥ 0}, …]"""
    if not isinstance(value, list):
        raise ValidationError("key_metrics must be a list.", code="invalid_policy")
    clean = []
    for rule in value:
        if not isinstance(rule, dict) or not isinstance(rule.get("metric"), str):
            raise ValidationError(
                'Each key metric is {"metric": name, "direction": "higher" or "lower", '
                '"tolerance": number}.',
                code="invalid_policy",
            )
        validate_metrics({rule["metric"]: 0.0})
        direction = rule.get("direction", "higher")
        if direction not in ("higher", "lower"):
            raise ValidationError(
                f"direction of {rule['metric']} must be 'higher' or 'lower'.",
                code="invalid_policy",
            )
        tolerance = _number(rule.get("tolerance", 0.0), "tolerance")
        if tolerance < 0:
            raise ValidationError("tolerance must not be negative.", code="invalid_policy")
        extra = set(rule) - {"metric", "direction", "tolerance"}
        if extra:
            raise ValidationError(
                f"Unknown key metric fields: {', '.join(sorted(extra))}.", code="invalid_policy"
            )
        clean.append({"metric": rule["metric"], "direction": direction, "tolerance": tolerance})
    return clean


def validate_metric_directions(value: object) -> dict[str, str]:
    """{metric name: "higher" or "lower"}: which way each metric improves."""
    if not isinstance(value, dict):
        raise ValidationError(
            'metric_directions must be an object of metric name → "higher" or "lower".',
            code="invalid_policy",
        )
    if len(value) > METRICS_MAX:
        raise ValidationError(f"At most {METRICS_MAX} metric directions.", code="invalid_policy")
    clean = {}
    for name, direction in value.items():
        validate_metrics({name: 0.0})
        if direction not in ("higher", "lower"):
            raise ValidationError(
                f"The direction of {name} must be 'higher' or 'lower'.", code="invalid_policy"
            )
        clean[name] = direction
    return clean


def validate_card_sections(value: object) -> list[str]:
    if not isinstance(value, list) or any(s not in SECTION_NAMES for s in value):
        raise ValidationError(
            f"required_card_sections must be a list drawn from: {', '.join(SECTION_NAMES)}.",
            code="invalid_policy",
        )
    return list(dict.fromkeys(value))


# --- Production health signals --------------------------------------------------------

SIGNAL_SOURCE_MAX = 100
# A signal's window: at most 30 days, as seconds ("600") or a duration ("10m", "1h30m").
SIGNAL_WINDOW_MAX = 30 * 24 * 3600
_DURATION_RE = re.compile(
    r"(?:([0-9]{1,7})d)?(?:([0-9]{1,7})h)?(?:([0-9]{1,7})m)?(?:([0-9]{1,9})s)?"
)


def validate_metric_name(name: object) -> str:
    """One metric name, allowed as in a version's metrics."""
    if not isinstance(name, str) or not METRIC_NAME_RE.fullmatch(name):
        raise ValidationError(
            f"Metric name '{_printable(str(name))}' is not allowed: use 1 to 250 "
            "letters, digits, spaces and '_.-/', starting with a letter, digit or '_'.",
            code="invalid_metric",
        )
    return name


def validate_signal_value(value: object) -> float:
    """A finite number; numeric strings are refused like booleans and null."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValidationError(
            f"value must be a number, not {type(value).__name__}.", code="invalid_value"
        )
    number = float(value)
    if not math.isfinite(number):
        raise ValidationError(
            "value must be a finite number (NaN and infinity are refused).", code="invalid_value"
        )
    return number


def parse_window(value: object) -> int:
    """A window in whole seconds, from a number of seconds or a duration: "90", 90, "10m",
    "1h30m", "2d" (units d, h, m, s). 0 means an instant."""
    if isinstance(value, bool):
        seconds = -1
    elif isinstance(value, int):
        seconds = value
    elif isinstance(value, float) and value.is_integer():
        seconds = int(value)
    elif isinstance(value, str) and value.strip():
        text = value.strip().lower()
        if text.isdigit() and len(text) <= 9:
            seconds = int(text)
        else:
            match = _DURATION_RE.fullmatch(text)
            if match is None or not any(match.groups()):
                seconds = -1
            else:
                d, h, m, s = (int(part or 0) for part in match.groups())
                seconds = ((d * 24 + h) * 60 + m) * 60 + s
    else:
        seconds = -1
    if not 0 <= seconds <= SIGNAL_WINDOW_MAX:
        raise ValidationError(
            f"window '{_printable(str(value))}' is not allowed: give whole seconds or a "
            "duration such as 10m, 1h or 1h30m (units d, h, m, s), at most 30 days.",
            code="invalid_window",
        )
    return seconds


def validate_signal_source(value: object) -> str:
    if value is None:
        return ""
    text = validate_plain_text(value, field="source", max_length=SIGNAL_SOURCE_MAX, multiline=False)
    return text.strip()
