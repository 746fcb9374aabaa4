"""Secrets out of URLs before they reach a message, a log line or a summary.

A URL may carry a secret in two places: its user info (``rtsp://admin:PASS@cam/s``) and
its query (``http://box:8091/?token=T``, ``...?password=P&user=u``).  :func:`redact_url`
replaces the password and the value of every query parameter whose name says secret
(:data:`SECRET_NAMES`) with ``***``; :func:`redact_text` does so for every URL in a text.
Only the standard library: the command line's error path imports this before anything.
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit, urlunsplit

#: Query parameter names whose values are secrets (compared in lower case; ``-`` as ``_``).
SECRET_NAMES = frozenset({
    "token", "access_token", "auth", "auth_token", "password", "passwd", "pass", "pwd",
    "secret", "key", "api_key", "apikey", "sig", "signature", "credential", "credentials",
    "passphrase", "streamid",  # SRT's encryption passphrase, and its stream id (often a key)
})
#: Schemes whose last path segment is a stream key (``rtmp://a.rtmp.youtube.com/live2/KEY``).
KEY_IN_PATH = ("rtmp", "rtmps", "rtmpt", "rtmpts")

MASK = "***"
_URL = re.compile(r"\b[a-zA-Z][a-zA-Z0-9+.-]*://[^\s'\"<>]+")
_QUERY_ITEM = re.compile(r"([^&;=]*)(=?)([^&;]*)")


def _redact_query(query: str) -> str:
    def one(match: re.Match) -> str:
        name, equals, value = match.groups()
        if equals and value and name.lower().replace("-", "_") in SECRET_NAMES:
            return f"{name}={MASK}"
        return match.group(0)
    return _QUERY_ITEM.sub(one, query)


def redact_url(url: str) -> str:
    """``url`` with its password and secret query values replaced by ``***``.

    >>> redact_url("rtsp://admin:pw@cam:554/s?token=abc&fps=5")
    'rtsp://admin:***@cam:554/s?token=***&fps=5'
    """
    try:
        parts = urlsplit(url)
    except ValueError:  # e.g. an unclosed [ in the host: hide what could be secrets
        head, mark, query = url.partition("?")
        head = re.sub(r"(://[^/@]*:)[^/@]*@", rf"\g<1>{MASK}@", head)
        return head + mark + _redact_query(query)
    netloc = parts.netloc
    if "@" in netloc:
        userinfo, _, hostport = netloc.rpartition("@")
        if ":" in userinfo:
            netloc = f"{userinfo.split(':', 1)[0]}:{MASK}@{hostport}"
    query = _redact_query(parts.query) if parts.query else parts.query
    path = parts.path
    if parts.scheme.lower() in KEY_IN_PATH and path.count("/") >= 2 and not path.endswith("/"):
        path = path.rsplit("/", 1)[0] + "/" + MASK  # app/KEY: the key is the secret
    if netloc == parts.netloc and query == parts.query and path == parts.path:
        return url
    return urlunsplit(parts._replace(netloc=netloc, query=query, path=path))


def redact_text(text: str) -> str:
    """``text`` with every URL in it passed through :func:`redact_url`."""
    return _URL.sub(lambda match: redact_url(match.group(0)), str(text))
