"""The address guard on its own: every spelling of a forbidden address, schemes, the
allow-list, and DNS answers (faked: these tests never leave the machine)."""

from __future__ import annotations

import socket

import pytest
from django.core.exceptions import ImproperlyConfigured

from workers.address_guard import (
    FORBIDDEN_ADDRESS,
    HOST_NOT_ALLOWED,
    UNRESOLVABLE,
    VALIDATION_FAILED,
    BlockedAddress,
    GuardPolicy,
    check_url,
    normalise_host,
    policy_from_settings,
    resolve_and_check,
)

DEFAULT = GuardPolicy()
ALLOW_PRIVATE = GuardPolicy(allow_private=True)

FORBIDDEN_SPELLINGS = [
    "127.0.0.1",
    "localhost",
    "LOCALHOST.",
    "app.localhost",
    "2130706433",
    "0177.0.0.1",
    "0x7f.1",
    "0x7f.0.0.1",
    "0x7f000001",
    "0X7F.1",
    "127.1",
    "127.0.0.1.",
    "%31%32%37.0.0.1",
    "１２７．０．０．１",
    "[::1]",
    "[0:0:0:0:0:0:0:1]",
    "[::ffff:127.0.0.1]",
    "[::ffff:7f00:1]",
    "[::127.0.0.1]",
    "169.254.169.254",
    "[fd00:ec2::254]",
    "100.100.100.200",
    "10.0.0.1",
    "172.16.5.4",
    "192.168.1.1",
    "100.64.0.1",
    "0.0.0.0",
    "0",
    "[::]",
    "[fe80::1%25eth0]",
    "[fe80::1]",
    "[fc00::1]",
    "224.0.0.1",
    "[ff02::1]",
    "255.255.255.255",
    "240.0.0.1",
    "192.0.2.1",
    "198.51.100.7",
    "203.0.113.9",
    "198.18.0.1",
    "[2001:db8::1]",
    "[64:ff9b::7f00:1]",
    "[64:ff9b::a9fe:a9fe]",
    "[2002:7f00:1::1]",
    "[2002:c0a8:101::1]",
    "[2001:0:4136:e378:8000:63bf:80ff:fffe]",
]


@pytest.mark.parametrize("host", FORBIDDEN_SPELLINGS)
def test_every_spelling_of_a_forbidden_address_is_refused_by_check_url(host):
    with pytest.raises(BlockedAddress) as caught:
        check_url(f"http://{host}/logo.png", DEFAULT)
    assert caught.value.code == FORBIDDEN_ADDRESS
    assert caught.value.message.startswith("forbidden_address:")


@pytest.mark.parametrize("host", FORBIDDEN_SPELLINGS)
def test_every_spelling_of_a_forbidden_address_is_refused_by_resolve_and_check(host):
    with pytest.raises(BlockedAddress) as caught:
        resolve_and_check(host, 80, DEFAULT)
    assert caught.value.code == FORBIDDEN_ADDRESS


@pytest.mark.parametrize(
    "spelling",
    ["2130706433", "0177.0.0.1", "0x7f.1", "0x7f.0.0.1", "0x7f000001", "127.1", "127.0.0.1."],
)
def test_legacy_ipv4_spellings_read_as_a_browser_reads_them(spelling):
    assert normalise_host(spelling) == "127.0.0.1"
    # socket.inet_aton (what getaddrinfo uses) agrees on every one of them.
    assert socket.inet_aton(spelling.rstrip(".")) == socket.inet_aton("127.0.0.1")
    assert resolve_and_check(spelling, 80, ALLOW_PRIVATE) == ["127.0.0.1"]


def test_ipv6_literals_lose_brackets_and_zone_and_take_their_standard_spelling():
    assert normalise_host("[::FFFF:127.0.0.1]") == "::ffff:7f00:1"
    assert normalise_host("[fe80::1%25eth0]") == "fe80::1"
    assert normalise_host("[0:0:0:0:0:0:0:1]") == "::1"


def test_domains_are_lowercased_idna_encoded_and_lose_the_trailing_dot():
    assert check_url("HTTP://Images.EXAMPLE.com./a.png", DEFAULT) == (
        "http",
        "images.example.com",
        80,
    )
    assert normalise_host("bücher.example") == "xn--bcher-kva.example"


@pytest.mark.parametrize(
    "host",
    ["169.254.169.254", "[fd00:ec2::254]", "100.100.100.200", "[::ffff:169.254.169.254]"],
)
def test_cloud_metadata_stays_refused_even_when_private_targets_are_allowed(host):
    with pytest.raises(BlockedAddress) as caught:
        check_url(f"http://{host}/latest/meta-data/", ALLOW_PRIVATE)
    assert caught.value.code == FORBIDDEN_ADDRESS
    assert "metadata" in caught.value.reason


@pytest.mark.parametrize("host", ["127.0.0.1", "10.0.0.1", "[::1]", "[fe80::1%25eth0]"])
def test_allow_private_lets_the_operator_reach_their_own_network(host):
    scheme, _host, port = check_url(f"http://{host}:8080/", ALLOW_PRIVATE)
    assert (scheme, port) == ("http", 8080)


@pytest.mark.parametrize(
    "host",
    ["8.8.8.8", "93.184.216.34", "[2606:4700::1111]", "[64:ff9b::808:808]", "[2002:808:808::1]"],
)
def test_public_addresses_pass_including_nat64_and_6to4_of_a_public_ipv4(host):
    assert check_url(f"https://{host}/", DEFAULT)[0] == "https"


@pytest.mark.parametrize(
    "url",
    [
        "file:///etc/passwd",
        "ftp://example.com/logo.png",
        "data:image/png;base64,iVBORw0KGgo=",
        "chrome://settings",
        "view-source:http://example.com/",
        "javascript:alert(1)",
        "gopher://example.com/",
        "example.com/logo.png",
        "//example.com/logo.png",
        "http:///logo.png",
        "http://",
        "https://:443/",
        "http:example.com",
        "",
        "   ",
    ],
)
def test_only_http_and_https_urls_with_a_host_are_accepted(url):
    with pytest.raises(BlockedAddress) as caught:
        check_url(url, DEFAULT)
    assert caught.value.code == VALIDATION_FAILED


def test_scheme_refusal_names_the_scheme():
    with pytest.raises(BlockedAddress, match="scheme_not_allowed:file"):
        check_url("FILE:///etc/passwd", DEFAULT)


@pytest.mark.parametrize(
    "url",
    [
        "http://example.com\\@127.0.0.1/",  # Chromium reads "\" as "/", urllib as userinfo
        "http://exa mple.com/",
        "http://example.com/\tlogo.png",
        "http://example.com/\nlogo.png",
        "http://1.2.3.08/",  # 08 is not octal: a browser refuses the host
        "http://foo.0x10/",  # ends in a number, so it must be an IPv4 literal
        "http://256.1.1.1/",
        "http://1.2.3.4.5/",
        "http://[::1/",
        "http://[::g]/",
        "http://exa_mple..com/",
        "http://ex%2Fample.com/",
        "http://example.com:25/",  # a "bad port": no HTTP at a mail server
        "http://example.com:0/",
        "http://example.com:70000/",
        "http://example.com:http/",
    ],
)
def test_malformed_hosts_ports_and_parser_tricks_are_refused(url):
    with pytest.raises(BlockedAddress) as caught:
        check_url(url, DEFAULT)
    assert caught.value.code == VALIDATION_FAILED


def test_userinfo_is_parsed_the_way_browsers_parse_it():
    # The host is what follows the last "@"; everything before it is credentials.
    assert check_url("http://user:pass@example.com:8080/x", DEFAULT) == (
        "http",
        "example.com",
        8080,
    )
    assert check_url("http://127.0.0.1:80@example.com/", DEFAULT)[1] == "example.com"
    with pytest.raises(BlockedAddress) as caught:
        check_url("http://example.com@127.0.0.1/", DEFAULT)
    assert caught.value.code == FORBIDDEN_ADDRESS
    with pytest.raises(BlockedAddress):
        check_url("http://user@evil.example@10.0.0.1/", DEFAULT)


def test_default_ports_follow_the_scheme():
    assert check_url("http://example.com", DEFAULT) == ("http", "example.com", 80)
    assert check_url("https://example.com", DEFAULT) == ("https", "example.com", 443)


def test_a_host_off_the_allow_list_is_refused_with_its_name():
    policy = GuardPolicy(allowed_hosts=frozenset({"images.example.com"}))
    with pytest.raises(BlockedAddress) as caught:
        check_url("https://Other.Example.com./x.png", policy)
    assert caught.value.code == HOST_NOT_ALLOWED
    assert caught.value.message == "host_not_allowed:other.example.com"
    with pytest.raises(BlockedAddress) as caught:
        resolve_and_check("cdn.example.com", 443, policy)
    assert caught.value.message == "host_not_allowed:cdn.example.com"
    assert check_url("https://IMAGES.example.com./x.png", policy)[1] == "images.example.com"


def test_the_allow_list_does_not_override_the_address_rules():
    policy = GuardPolicy(allowed_hosts=frozenset({"127.0.0.1"}))
    with pytest.raises(BlockedAddress) as caught:
        check_url("http://127.0.0.1/", policy)
    assert caught.value.code == FORBIDDEN_ADDRESS


def test_policy_normalises_its_allow_list():
    policy = GuardPolicy(allowed_hosts=frozenset({"Images.Example.COM.", "[::1]"}))
    assert policy.allowed_hosts == frozenset({"images.example.com", "::1"})


def fake_resolver(monkeypatch, answers: dict[str, list[str]]):
    """Make getaddrinfo answer `answers[name]` (or fail) instead of asking DNS."""
    real = socket.getaddrinfo

    def getaddrinfo(host, port, family=0, type=0, proto=0, flags=0):
        if host not in answers:
            if flags & socket.AI_NUMERICHOST:
                return real(host, port, family, type, proto, flags)
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        result = []
        for address in answers[host]:
            if ":" in address:
                result.append((socket.AF_INET6, socket.SOCK_STREAM, 6, "", (address, port, 0, 0)))
            else:
                result.append((socket.AF_INET, socket.SOCK_STREAM, 6, "", (address, port)))
        return result

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)


def test_resolution_returns_every_ipv4_and_ipv6_answer(monkeypatch):
    fake_resolver(
        monkeypatch,
        {"images.example.com": ["93.184.216.34", "2606:2800:220:1::1", "93.184.216.34"]},
    )
    assert resolve_and_check("images.example.com", 443, DEFAULT) == [
        "93.184.216.34",
        "2606:2800:220:1::1",
    ]


@pytest.mark.parametrize(
    "answers",
    [
        ["93.184.216.34", "127.0.0.1"],
        ["93.184.216.34", "10.1.2.3"],
        ["2606:2800:220:1::1", "::ffff:169.254.169.254"],
        ["169.254.169.254"],
        ["fd12:3456::1"],
    ],
)
def test_a_name_with_any_forbidden_answer_is_refused(monkeypatch, answers):
    fake_resolver(monkeypatch, {"mixed.example.com": answers})
    with pytest.raises(BlockedAddress) as caught:
        resolve_and_check("mixed.example.com", 80, DEFAULT)
    assert caught.value.code == FORBIDDEN_ADDRESS
    assert caught.value.message == "forbidden_address:mixed.example.com"


def test_a_name_that_does_not_resolve_is_refused(monkeypatch):
    fake_resolver(monkeypatch, {})
    with pytest.raises(BlockedAddress) as caught:
        resolve_and_check("rebind.invalid", 80, ALLOW_PRIVATE)
    assert caught.value.code == UNRESOLVABLE
    assert caught.value.message == "unresolvable_host:rebind.invalid"


def test_ip_literals_are_never_sent_to_the_resolver(monkeypatch):
    fake_resolver(monkeypatch, {})  # any name lookup would now fail
    assert resolve_and_check("0x7f.1", 80, ALLOW_PRIVATE) == ["127.0.0.1"]
    assert resolve_and_check("[::1]", 80, ALLOW_PRIVATE) == ["::1"]


def test_policy_from_settings_defaults_to_the_strict_policy(settings):
    for name in ("KILN_ALLOW_PRIVATE_TARGETS", "KILN_ALLOWED_HOSTS"):
        if hasattr(settings, name):
            delattr(settings, name)
    assert policy_from_settings() == GuardPolicy()


def test_policy_from_settings_reads_the_operator_settings(settings):
    settings.KILN_ALLOW_PRIVATE_TARGETS = True
    settings.KILN_ALLOWED_HOSTS = ["Images.Example.com", "cdn.example.com."]
    assert policy_from_settings() == GuardPolicy(
        allow_private=True, allowed_hosts=frozenset({"images.example.com", "cdn.example.com"})
    )
    settings.KILN_ALLOWED_HOSTS = "a.example.com, b.example.com"
    assert policy_from_settings().allowed_hosts == {"a.example.com", "b.example.com"}


def test_an_invalid_allow_list_entry_is_a_configuration_error(settings):
    # Skipping it could leave the list empty, which means "every host".
    settings.KILN_ALLOWED_HOSTS = ["exa mple.com"]
    with pytest.raises(ImproperlyConfigured):
        policy_from_settings()
