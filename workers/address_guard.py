"""Kiln's one address guard: which URLs and IP addresses an outbound fetch may reach.

Every request Kiln makes on a user's behalf (template images, page subresources, AI
downloads, outgoing webhooks) passes through `check_url` and `resolve_and_check` here, so
that "may Kiln talk to this?" has exactly one answer. The guard owns:

- URL syntax: only `http`/`https`, a host is required, ports on the Fetch standard's
  "bad port" list are refused, control characters and backslashes in the authority are
  refused (browsers and urllib disagree about them, and a disagreement is an SSRF);
- host normalisation the way a browser/libc would read it: percent-decoding, IDNA,
  lowercase, trailing dot, and every legacy IPv4 spelling (`2130706433`, `0177.0.0.1`,
  `0x7f.1`, `127.1`) plus IPv6 literals with or without a zone id;
- the operator's allow-list (`KILN_ALLOWED_HOSTS`, exact names, empty = every host);
- the address policy: loopback, private, link-local, CGNAT, multicast, reserved,
  documentation/benchmark ranges and IPv6 forms embedding such an IPv4 are refused unless
  the operator sets `KILN_ALLOW_PRIVATE_TARGETS`; cloud metadata endpoints are refused
  even then (allowing a LAN is not allowing the instance's credentials);
- exempt endpoints: exact `address:port` pairs let past the address policy (never cloud
  metadata). Only tests set them (`KILN_GUARD_TEST_ENDPOINTS`, deliberately not read from
  the environment), so a fixture server on 127.0.0.1:PORT can be reached while every
  other loopback address and port, in every spelling, stays refused.

Callers must connect to the addresses `resolve_and_check` returned and never resolve the
name again: a second lookup could answer differently (DNS rebinding). `workers.fetch`
does this; other clients (the Chromium pool) must check every request they make.

Error codes carried by `BlockedAddress.code` (the HTTP layer maps them):

- `VALIDATION_FAILED`  the URL or host cannot be used at all (bad scheme, no host, bad
  port, malformed host) → 400;
- `HOST_NOT_ALLOWED`   not on the operator's allow-list; message `host_not_allowed:<host>`
  → 403;
- `FORBIDDEN_ADDRESS`  the host is, or resolves to, a refused address; message
  `forbidden_address:<host>` (the address and why are in `.reason`, for logs only: it can
  reveal internal DNS) → 403;
- `UNRESOLVABLE`       the name does not resolve; message `unresolvable_host:<host>` →
  502 `UPSTREAM_FAILED` (the target is what failed).
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Iterable
from dataclasses import dataclass, field
from urllib.parse import unquote, urlsplit

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

VALIDATION_FAILED = "VALIDATION_FAILED"
HOST_NOT_ALLOWED = "HOST_NOT_ALLOWED"
FORBIDDEN_ADDRESS = "FORBIDDEN_ADDRESS"
UNRESOLVABLE = "UNRESOLVABLE"

ALLOWED_SCHEMES = frozenset({"http", "https"})
DEFAULT_PORTS = {"http": 80, "https": 443}
MAX_URL_LENGTH = 8192

# The Fetch standard's "bad ports": browsers refuse them, so a page cannot use Kiln to
# speak HTTP at a mail, SSH or IRC server. Keeping the same list keeps our fetcher and the
# Chromium pool in agreement.
BAD_PORTS = frozenset(
    {
        0, 1, 7, 9, 11, 13, 15, 17, 19, 20, 21, 22, 23, 25, 37, 42, 43, 53, 69, 77, 79, 87,
        95, 101, 102, 103, 104, 109, 110, 111, 113, 115, 117, 119, 123, 135, 137, 139, 143,
        161, 179, 389, 427, 465, 512, 513, 514, 515, 526, 530, 531, 532, 540, 548, 554, 556,
        563, 587, 601, 636, 989, 990, 993, 995, 1719, 1720, 1723, 2049, 3659, 4045, 4190,
        5060, 5061, 6000, 6566, 6665, 6666, 6667, 6668, 6669, 6679, 6697, 10080,
    }
)  # fmt: skip

# Instance metadata services hand out cloud credentials: refused even with
# allow_private. AWS/GCP/Azure/OCI IMDS, AWS ECS task metadata, AWS IMDS over IPv6,
# Alibaba, Azure WireServer, legacy Oracle Cloud.
METADATA_ADDRESSES = frozenset(
    ipaddress.ip_address(a)
    for a in (
        "169.254.169.254",
        "169.254.170.2",
        "fd00:ec2::254",
        "100.100.100.200",
        "168.63.129.16",
        "192.0.0.192",
    )
)

_V4 = ipaddress.IPv4Network
_V6 = ipaddress.IPv6Network

# (network, reason). Spelled out rather than left to `ipaddress.is_private`/`is_global`,
# whose tables change between Python releases; those predicates are consulted as well,
# as a net for anything IANA reserves later.
FORBIDDEN_V4 = (
    (_V4("0.0.0.0/8"), "unspecified"),  # "this network"; 0.0.0.0 reaches localhost on Linux
    (_V4("10.0.0.0/8"), "private"),
    (_V4("100.64.0.0/10"), "cgnat"),
    (_V4("127.0.0.0/8"), "loopback"),
    (_V4("169.254.0.0/16"), "link-local"),
    (_V4("172.16.0.0/12"), "private"),
    (_V4("192.0.0.0/24"), "reserved"),  # IETF protocol assignments
    (_V4("192.0.2.0/24"), "documentation"),
    (_V4("192.88.99.0/24"), "reserved"),  # deprecated 6to4 relay anycast
    (_V4("192.168.0.0/16"), "private"),
    (_V4("198.18.0.0/15"), "benchmark"),
    (_V4("198.51.100.0/24"), "documentation"),
    (_V4("203.0.113.0/24"), "documentation"),
    (_V4("224.0.0.0/4"), "multicast"),
    (_V4("240.0.0.0/4"), "reserved"),
    (_V4("255.255.255.255/32"), "broadcast"),
)
FORBIDDEN_V6 = (
    (_V6("::/128"), "unspecified"),
    (_V6("::1/128"), "loopback"),
    # A public site has no reason to publish an IPv4-mapped or -compatible AAAA; they only
    # show up as a way of smuggling an IPv4 past a v4-only check.
    (_V6("::ffff:0:0/96"), "ipv4-mapped"),
    (_V6("::/96"), "ipv4-compatible"),
    (_V6("64:ff9b:1::/48"), "nat64-local"),
    (_V6("100::/64"), "discard"),
    (_V6("2001::/23"), "reserved"),  # IETF protocol assignments, includes Teredo
    (_V6("2001:db8::/32"), "documentation"),
    (_V6("3fff::/20"), "documentation"),
    (_V6("5f00::/16"), "reserved"),  # SRv6 SIDs
    (_V6("fc00::/7"), "private"),
    (_V6("fe80::/10"), "link-local"),
    (_V6("fec0::/10"), "site-local"),
    (_V6("ff00::/8"), "multicast"),
)
_NAT64 = _V6("64:ff9b::/96")

# After IDNA a domain is ASCII; anything but these cannot be a DNS name, and the WHATWG
# forbidden domain code points (`%`, `@`, `:`, `\`, space…) would only mean a parser trick.
_DOMAIN_CHARS = frozenset("abcdefghijklmnopqrstuvwxyz0123456789-_.")


class BlockedAddress(Exception):
    """An outbound request Kiln refuses to make. `code` is one of the module's codes."""

    def __init__(self, code: str, message: str, *, host: str = "", reason: str = "") -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.host = host
        # Which address and why; for server logs, never for the API response.
        self.reason = reason

    def __str__(self) -> str:
        return self.message


def _normalise_allowed(hosts: Iterable[str]) -> frozenset[str]:
    return frozenset(normalise_host(h) for h in hosts if h and h.strip())


@dataclass(frozen=True)
class GuardPolicy:
    """What the operator allows. The default refuses every non-public address.

    `allowed_hosts` holds exact host names (normalised here: lowercase, no trailing dot,
    IDNA); empty means every host is allowed.
    """

    allow_private: bool = False
    allowed_hosts: frozenset[str] = field(default_factory=frozenset)
    # Exact (address, port) pairs exempt from the address policy: test fixture servers.
    # Given as "127.0.0.1:8080" / "[::1]:8080" or (address, port); stored as
    # (ipaddress object, int) so every spelling of the address compares equal.
    exempt_endpoints: frozenset[tuple[IPAddress, int]] = field(default_factory=frozenset)

    def __post_init__(self) -> None:
        # frozen: normalising in place needs object.__setattr__.
        object.__setattr__(self, "allowed_hosts", _normalise_allowed(self.allowed_hosts))
        object.__setattr__(
            self, "exempt_endpoints", frozenset(_endpoint(e) for e in self.exempt_endpoints)
        )


def _endpoint(entry: str | tuple[object, object]) -> tuple[IPAddress, int]:
    """("127.0.0.1", 8080), "127.0.0.1:8080" or "[::1]:8080" → (IP address, port). Only
    IP literals: an exemption names the endpoint connected to, never a DNS name."""
    if isinstance(entry, str):
        address, sep, port = entry.strip().rpartition(":")
        if not sep:
            raise ValueError(f"exempt endpoint {entry!r} must be address:port")
        entry = (address.strip("[]"), port)
    address, port = entry
    try:
        return ipaddress.ip_address(str(address)), int(str(port))
    except ValueError:
        raise ValueError(f"exempt endpoint {entry!r} must be an IP address and a port") from None


def policy_from_settings() -> GuardPolicy:
    """The operator's policy from Django settings, read at call time (tests override them).

    `KILN_ALLOW_PRIVATE_TARGETS` (bool, default False) and `KILN_ALLOWED_HOSTS` (list of
    exact host names, or a comma-separated string; default empty = all hosts). An entry
    that is not a valid host is a configuration error, not something to skip: dropping the
    only entry would silently turn "one host" into "every host".
    """
    from django.conf import settings
    from django.core.exceptions import ImproperlyConfigured

    try:
        allow_private = bool(getattr(settings, "KILN_ALLOW_PRIVATE_TARGETS", False))
        hosts = getattr(settings, "KILN_ALLOWED_HOSTS", None) or []
        # Tests only: config/settings.py never defines it, so no environment can set it.
        exempt = getattr(settings, "KILN_GUARD_TEST_ENDPOINTS", None) or []
    except ImproperlyConfigured:
        # Plain Python with no Django settings at all: the strict default.
        return GuardPolicy()
    if isinstance(hosts, str):
        hosts = hosts.split(",")
    try:
        return GuardPolicy(
            allow_private=allow_private,
            allowed_hosts=frozenset(hosts),
            exempt_endpoints=frozenset(exempt),
        )
    except BlockedAddress as exc:
        raise ImproperlyConfigured(f"KILN_ALLOWED_HOSTS: {exc.message}") from None
    except ValueError as exc:
        raise ImproperlyConfigured(f"KILN_GUARD_TEST_ENDPOINTS: {exc}") from None


# --- host parsing ---------------------------------------------------------------------


def _invalid_host(host: str) -> BlockedAddress:
    return BlockedAddress(VALIDATION_FAILED, f"invalid_host:{host}", host=host)


def _ipv4_number(part: str) -> int | None:
    """One part of a WHATWG IPv4 literal: `0x`-hex, leading-zero octal, or decimal."""
    if part[:2] in ("0x", "0X"):
        digits, base = part[2:], 16
        if not digits:
            return 0  # WHATWG reads a bare "0x" as zero
    elif len(part) > 1 and part[0] == "0":
        digits, base = part[1:], 8
    else:
        digits, base = part, 10
    valid = {8: "01234567", 10: "0123456789", 16: "0123456789abcdefABCDEF"}[base]
    if not digits or any(c not in valid for c in digits):
        return None
    return int(digits, base)


def _ends_in_number(host: str) -> bool:
    last = host.split(".")[-1]
    return bool(last) and (last.isdigit() or _ipv4_number(last) is not None)


def _parse_ipv4_literal(host: str) -> ipaddress.IPv4Address | None:
    """Read `host` as a browser would. A host whose last label is a number IS an IPv4
    literal (or invalid, never a domain); `socket.inet_aton` is asked as well because
    getaddrinfo uses it and accepts the same legacy spellings."""
    if _ends_in_number(host):
        parts = host.split(".")
        numbers = [_ipv4_number(p) if p else None for p in parts]
        if len(parts) > 4 or any(n is None for n in numbers):
            raise _invalid_host(host)
        values = [n for n in numbers if n is not None]
        if any(n > 255 for n in values[:-1]) or values[-1] >= 256 ** (5 - len(values)):
            raise _invalid_host(host)
        address = values[-1]
        for i, n in enumerate(values[:-1]):
            address += n * 256 ** (3 - i)
        return ipaddress.IPv4Address(address)
    try:
        return ipaddress.IPv4Address(socket.inet_aton(host))
    except OSError:
        return None


def _parse_host(raw: str) -> tuple[str, IPAddress | None]:
    """(normalised host, the IP address if the host is a literal)."""
    host = raw.strip()
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    if ":" in host:
        # Only an IPv6 literal can hold a colon. The zone id ("%25eth0" in a URL, "%eth0"
        # elsewhere) names an interface, not an address: check the address.
        address_text = host.split("%", 1)[0]
        try:
            ip6 = ipaddress.IPv6Address(address_text)
        except ValueError:
            raise _invalid_host(raw) from None
        return ip6.compressed, ip6
    try:
        # Browsers percent-decode the host: http://%31%32%37.0.0.1/ is 127.0.0.1.
        host = unquote(host, errors="strict")
    except UnicodeDecodeError:
        raise _invalid_host(raw) from None
    if not host.isascii():
        try:
            # IDNA 2003 nameprep also folds full-width digits and dots to ASCII, so
            # "１２７．０．０．１" becomes a literal we then catch.
            host = host.encode("idna").decode("ascii")
        except UnicodeError:
            raise _invalid_host(raw) from None
    host = host.lower()
    if host.endswith("."):
        host = host[:-1]
    if not host or len(host) > 253 or any(c not in _DOMAIN_CHARS for c in host):
        raise _invalid_host(raw)
    ip4 = _parse_ipv4_literal(host)
    if ip4 is not None:
        return str(ip4), ip4
    if any(not label or len(label) > 63 for label in host.split(".")):
        raise _invalid_host(raw)
    return host, None


def normalise_host(host: str) -> str:
    """The canonical form of a host: lowercase ASCII (IDNA), no trailing dot, IP literals
    in their standard spelling, IPv6 without brackets or zone. Raises BlockedAddress
    (VALIDATION_FAILED) when the host is malformed."""
    return _parse_host(host)[0]


# --- address policy -------------------------------------------------------------------


def _embedded_ipv4(ip: IPAddress) -> list[ipaddress.IPv4Address]:
    """IPv4 addresses an IPv6 address carries and may be routed to: mapped, compatible,
    NAT64, 6to4 and both ends of Teredo."""
    if isinstance(ip, ipaddress.IPv4Address):
        return []
    found: list[ipaddress.IPv4Address] = []
    low32 = ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    if ip.ipv4_mapped is not None:
        found.append(ip.ipv4_mapped)
    elif (ip in _V6("::/96") and int(ip) > 1) or ip in _NAT64:
        # "::" and "::1" sit inside ::/96 but are themselves, not 0.0.0.0/0.0.0.1.
        found.append(low32)
    if ip.sixtofour is not None:
        found.append(ip.sixtofour)
    if ip.teredo is not None:
        found.extend(ip.teredo)
    return found


def forbidden_reason(ip: IPAddress, policy: GuardPolicy) -> str | None:
    """Why `ip` may not be contacted under `policy`, or None when it may."""
    embedded = _embedded_ipv4(ip)
    for candidate in (ip, *embedded):
        if candidate in METADATA_ADDRESSES:
            return f"cloud metadata {candidate}"
    if policy.allow_private:
        return None
    for inner in embedded:
        inner_reason = forbidden_reason(inner, policy)
        if inner_reason is not None:
            return f"{ip} embeds {inner_reason}"
    if ip in _NAT64:
        # DNS64 answers for IPv4-only sites on an IPv6-only network: the embedded IPv4
        # (checked above) is the real destination. ipaddress files these under ::/8
        # "reserved", which would break every fetch on such a network.
        return None
    table = FORBIDDEN_V4 if isinstance(ip, ipaddress.IPv4Address) else FORBIDDEN_V6
    for network, reason in table:
        if ip in network:
            return f"{reason} {ip}"
    if (
        ip.is_loopback
        or ip.is_private
        or ip.is_link_local
        or ip.is_multicast
        or ip.is_reserved
        or ip.is_unspecified
        or not ip.is_global
    ):
        return f"non-global {ip}"
    return None


def _check_allowed(host: str, policy: GuardPolicy) -> None:
    if policy.allowed_hosts and host not in policy.allowed_hosts:
        raise BlockedAddress(HOST_NOT_ALLOWED, f"host_not_allowed:{host}", host=host)


def _refuse(host: str, reason: str) -> BlockedAddress:
    return BlockedAddress(FORBIDDEN_ADDRESS, f"forbidden_address:{host}", host=host, reason=reason)


def _is_exempt(ip: IPAddress, port: int, policy: GuardPolicy) -> bool:
    if (ip, port) not in policy.exempt_endpoints:
        return False
    # Metadata stays refused whatever a test setting says (as with allow_private).
    return not any(c in METADATA_ADDRESSES for c in (ip, *_embedded_ipv4(ip)))


def _check_literal_or_name(
    host: str, ip: IPAddress | None, policy: GuardPolicy, port: int | None = None
) -> None:
    if ip is not None:
        if port is not None and _is_exempt(ip, port, policy):
            return
        reason = forbidden_reason(ip, policy)
        if reason is not None:
            raise _refuse(host, reason)
    elif not policy.allow_private and (host == "localhost" or host.endswith(".localhost")):
        # Browsers answer *.localhost themselves without asking DNS (RFC 6761).
        raise _refuse(host, "loopback name")


def check_url(url: str, policy: GuardPolicy) -> tuple[str, str, int]:
    """(scheme, normalised host, port) of a URL Kiln may fetch, checked without DNS:
    scheme, syntax, port, allow-list, and the address if the host is an IP literal.
    The caller still has to `resolve_and_check` the host before connecting."""
    if not isinstance(url, str) or not url.strip():
        raise BlockedAddress(VALIDATION_FAILED, "url is required")
    url = url.strip()
    if len(url) > MAX_URL_LENGTH:
        raise BlockedAddress(VALIDATION_FAILED, f"url must be ≤ {MAX_URL_LENGTH} characters")
    # urlsplit silently drops tabs and newlines (as browsers do); a URL that needs that
    # is a trick, not a typo.
    if any(ord(c) < 0x20 or ord(c) == 0x7F for c in url):
        raise BlockedAddress(VALIDATION_FAILED, "url contains control characters")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise BlockedAddress(VALIDATION_FAILED, f"invalid url: {exc}") from None
    scheme = parts.scheme.lower()
    if scheme not in ALLOWED_SCHEMES:
        raise BlockedAddress(
            VALIDATION_FAILED, f"scheme_not_allowed:{scheme or '(none)'} (only http and https)"
        )
    # Userinfo ends at the LAST "@" (urllib and browsers agree). A backslash or space in
    # the authority is where they don't: Chromium reads "\" as "/", urllib as userinfo.
    authority = parts.netloc
    if any(c in authority for c in "\\ ") or not parts.hostname:
        raise BlockedAddress(VALIDATION_FAILED, "url must have a valid host")
    host, ip = _parse_host(parts.hostname)
    if port is None:
        port = DEFAULT_PORTS[scheme]
    if port in BAD_PORTS:
        raise BlockedAddress(VALIDATION_FAILED, f"port_not_allowed:{port}")
    _check_allowed(host, policy)
    _check_literal_or_name(host, ip, policy, port)
    return scheme, host, port


def resolve_and_check(host: str, port: int, policy: GuardPolicy) -> list[str]:
    """Every address `host` resolves to (IPv4 and IPv6), all of them allowed, in
    resolver order. Connect to these and do not resolve the name again.

    Refuses when ANY answer is forbidden: a name mixing public and private answers is
    either misconfigured or a rebinding attempt, and a client picking "the first good
    one" would be racing the attacker.
    """
    name, ip = _parse_host(host)
    _check_allowed(name, policy)
    _check_literal_or_name(name, ip, policy, port)
    if ip is not None:
        return [str(ip)]
    try:
        answers = socket.getaddrinfo(name, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError):
        answers = []
    addresses: list[str] = []
    for family, _type, _proto, _canon, sockaddr in answers:
        if family not in (socket.AF_INET, socket.AF_INET6):
            continue
        text = str(sockaddr[0])
        try:
            resolved = ipaddress.ip_address(text.split("%", 1)[0])
        except ValueError:
            raise _refuse(name, f"unparseable answer {text!r}") from None
        reason = None if _is_exempt(resolved, port, policy) else forbidden_reason(resolved, policy)
        if reason is not None:
            raise _refuse(name, reason)
        if text not in addresses:
            addresses.append(text)
    if not addresses:
        raise BlockedAddress(UNRESOLVABLE, f"unresolvable_host:{name}", host=name)
    return addresses
