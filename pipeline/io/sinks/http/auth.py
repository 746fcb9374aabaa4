"""Who may use the http view: the token, the ``Host`` check, and the address to bind.

The rules are in the package's notes (:mod:`pipeline.io.sinks.http`, "Security"): off
loopback every request carries the token (query parameter, cookie or bearer header,
compared in constant time); on loopback the ``Host`` must name loopback.
"""

from __future__ import annotations

import errno
import hmac
import ipaddress
import os
import re
import socket
from http.cookies import CookieError, SimpleCookie
from urllib.parse import parse_qs, urlsplit

from pipeline.io.base import SinkError
from pipeline.config.registry import ParamError

#: What a configured token may be made of (it travels in URLs and cookies), and its length.
TOKEN_PATTERN = re.compile(r"[A-Za-z0-9._~-]{16,256}")

#: The environment variable a token may come from instead of the config (not in ``ps``).
TOKEN_VARIABLE = "EDGEPIPE_TOKEN"

TOKEN_RULE = ("16 to 256 characters of A-Z a-z 0-9 . _ ~ - (it goes in URLs and cookies); e.g. "
              "the output of python -c \"import secrets; print(secrets.token_urlsafe(24))\"")

#: Host names a loopback-bound server answers to (DNS-rebinding guard).
LOOPBACK_HOST_NAMES = ("localhost", "localhost.localdomain", "ip6-localhost", "ip6-loopback")


def token_from_env(configured: str | None) -> str | None:
    """The token ``$EDGEPIPE_TOKEN`` gives when the config gives none, else None.

    Raises
    ------
    ParamError
        Naming ``token`` when the configured token, or the variable's (used only when no
        token is configured), breaks :data:`TOKEN_RULE`; the token itself is never shown.
    """
    if configured is not None:
        if not TOKEN_PATTERN.fullmatch(configured):
            raise ParamError("token", f"token must be {TOKEN_RULE}, or leave it out "
                                      f"(got {len(configured)} characters; not shown)")
        return None
    offered = os.environ.get(TOKEN_VARIABLE)
    if not offered:  # an empty variable counts as unset
        return None
    if not TOKEN_PATTERN.fullmatch(offered):
        raise ParamError("token", f"${TOKEN_VARIABLE} (used as no token is configured) must "
                                  f"be {TOKEN_RULE} (got {len(offered)} characters; not shown)")
    return offered


def offered_token(path: str, headers, cookie_name: str, token: str) -> tuple[bool, str | None]:
    """Whether a request carries ``token``, and the cookie to set when it came in the URL.

    Looked for in the ``token`` query parameter (then the answer sets an HttpOnly,
    SameSite=Strict cookie for the page's own requests), the cookie ``cookie_name``, and
    ``Authorization: Bearer``; compared in constant time.

    Returns
    -------
    (bool, str or None)
        Whether the token matches, and the ``Set-Cookie`` value to send (or None).
    """
    expected = token.encode("utf-8")
    query = parse_qs(urlsplit(path).query).get("token", [])
    if query and hmac.compare_digest(query[0].encode("utf-8"), expected):
        return True, f"{cookie_name}={token}; Path=/; HttpOnly; SameSite=Strict"
    for offered in (_cookie_token(headers, cookie_name), _bearer_token(headers)):
        if offered is not None and hmac.compare_digest(offered.encode("utf-8"), expected):
            return True, None
    return False, None


def _cookie_token(headers, cookie_name: str) -> str | None:
    cookies = SimpleCookie()
    try:
        cookies.load(headers.get("Cookie", ""))
    except CookieError:
        return None
    morsel = cookies.get(cookie_name)
    return None if morsel is None else morsel.value


def _bearer_token(headers) -> str | None:
    scheme, _, value = headers.get("Authorization", "").strip().partition(" ")
    return value.strip() if scheme.lower() == "bearer" and value.strip() else None


def is_loopback(host: str) -> bool:
    """Whether ``host`` (an address or a name) is this machine only."""
    try:
        return ipaddress.ip_address(host.strip("[]").split("%")[0]).is_loopback
    except ValueError:
        return host.lower() in LOOPBACK_HOST_NAMES


def host_name(header: str) -> str:
    """The name in a ``Host`` header, without the port: ``[::1]:80`` -> ``::1``."""
    header = header.strip()
    if header.startswith("["):
        return header[1:header.find("]")] if "]" in header else header[1:]
    return header.rsplit(":", 1)[0] if ":" in header else header


def host_allowed(bound_to_loopback: bool, header: str | None) -> bool:
    """While bound to loopback, only loopback host names (DNS-rebinding guard).

    No ``Host`` header at all is HTTP/1.0, not a browser: allowed.
    """
    if not bound_to_loopback or header is None:
        return True
    return is_loopback(host_name(header))


def host_for_url(host: str) -> str:
    """``host`` as it goes in a URL: wildcards as loopback, IPv6 in brackets."""
    if host in ("", "0.0.0.0"):
        return "127.0.0.1"
    if host == "::":
        return "[::1]"
    return f"[{host}]" if ":" in host else host


def address(host: str, port: int) -> tuple[int, tuple]:
    """``(family, sockaddr)`` to bind ``host:port``; SinkError if the name does not resolve."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror as error:
        raise SinkError(f"http sink: cannot bind {host}:{port}: the host does not resolve "
                        f"({error.strerror}); use an address of this machine, e.g. 127.0.0.1") from error
    family, _, _, _, sockaddr = infos[0]
    return family, sockaddr


def bind_error(host: str, port: int, error: OSError) -> SinkError:
    """The SinkError for a failed bind of ``host:port``, with what to use instead."""
    if error.errno == errno.EADDRINUSE:
        return SinkError(f"http sink: {host}:{port} is already in use; choose another port "
                         f"(e.g. port: {port + 1 if port < 65535 else 8080}) or port: 0 to pick a free one")
    if error.errno == errno.EACCES:
        return SinkError(f"http sink: no permission to bind {host}:{port} (ports below 1024 need "
                         f"privileges); choose a port above 1023 or port: 0")
    if error.errno == errno.EADDRNOTAVAIL:
        return SinkError(f"http sink: {host} is not an address of this machine; use 127.0.0.1 "
                         f"(this machine only) or 0.0.0.0 (every interface)")
    return SinkError(f"http sink: cannot bind {host}:{port} ({error.strerror or error})")
