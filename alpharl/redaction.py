"""Hiding credentials in URLs before they are printed, logged or returned.

A database, Redis or MLflow URL may carry a password (``postgresql://user:secret@host/db``)
or a token as the whole user part (``https://token@host``). Everything that shows a URL
(a startup line, an ERROR line, an error message, a field of an API answer) passes it, or
the text holding it, through these functions first.
"""

from __future__ import annotations

import re

MASK = "***"

_USERINFO = re.compile(r"(?P<scheme>[A-Za-z][A-Za-z0-9+.\-]*://)(?P<userinfo>[^/?#\s'\"]*)@")
_SECRET_QUERY = re.compile(
    r"(?P<key>[?&](?:password|passwd|pwd|token|access_token|api_key|apikey|secret|key)=)"
    r"(?P<value>[^&#\s'\"]*)",
    re.IGNORECASE,
)


def _mask_userinfo(match: re.Match[str]) -> str:
    scheme = match.group("scheme")
    user, sep, _password = match.group("userinfo").partition(":")
    if sep:
        return f"{scheme}{user}:{MASK}@"
    if scheme.lower().startswith("http"):  # https://<token>@host: the user part is the secret
        return f"{scheme}{MASK}@"
    return match.group(0)  # postgresql://user@host: a user name, the password is elsewhere


def redact_url(url: str) -> str:
    """``url`` with its password (for http(s), also a user part alone: a token) and secret
    query parameters replaced by ``***``; a URL without credentials is returned unchanged.

    Examples:
        ``postgresql://ads:s3cret@db:5432/log`` -> ``postgresql://ads:***@db:5432/log``;
        ``https://tok3n@mlflow.example`` -> ``https://***@mlflow.example``.
    """
    return redact_text(url)


def redact_text(text: str) -> str:
    """``text`` with the credentials of every URL in it replaced (see `redact_url`).

    For messages that may quote a URL: exception texts, reasons, log lines.
    """
    masked = _USERINFO.sub(_mask_userinfo, text)
    return _SECRET_QUERY.sub(lambda m: m.group("key") + MASK, masked)
