"""gateway/security/permissions.py in-process: a client's globs against the permission a
route needs, the check that refuses, and ``require`` for a route the handler checks itself.

The integration tests (test_security.py, test_route_permissions.py) check a few keys
through real routes; these check the glob rules themselves (CONTRACT.md, Security:
``calculator.*``, ``cache.get``, ``thrift_test.testString``, ``*``, and ``metrics``).
"""

from __future__ import annotations

from typing import Any

import pytest

from gateway.errors import Forbidden
from gateway.security.auth import ANONYMOUS, Client
from gateway.security.permissions import CLIENT_ENVIRON_KEY, allows, check, require


def client(*granted: str, name: str = "alice") -> Client:
    return Client(name, granted)


@pytest.mark.parametrize(("granted", "needed"), [
    (("calculator.*",), "calculator.add"),
    (("calculator.*",), "calculator.divide"),
    (("cache.get",), "cache.get"),
    (("thrift_test.testString",), "thrift_test.testString"),
    (("*",), "calculator.add"),
    (("*",), "metrics"),  # everything is everything, metrics included
    (("metrics",), "metrics"),
    (("*.get",), "cache.get"),  # a glob on the service side works too
    (("cache.get", "cache.put"), "cache.put"),  # any one of several grants is enough
    (("cache.[gp]*",), "cache.put"),  # fnmatch's classes: a glob, as the contract says
])
def test_a_grant_that_matches_allows(granted: tuple[str, ...], needed: str) -> None:
    assert allows(client(*granted), needed)


@pytest.mark.parametrize(("granted", "needed"), [
    (("calculator.*",), "cache.get"),
    (("cache.get",), "cache.put"),  # a reader cannot write
    (("cache.get",), "cache.get_many"),  # a grant is the whole name, not a prefix
    (("cache.get",), "cache.remove"),
    (("calculator.*",), "metrics"),  # metrics is its own permission
    (("cache.*",), "metrics"),
    (("metrics",), "calculator.add"),
    (("Calculator.*",), "calculator.add"),  # case matters: service and method names are exact
    (("thrift_test.teststring",), "thrift_test.testString"),
    (("calculator",), "calculator.add"),  # a service name alone grants none of its methods
    ((), "calculator.add"),  # a key listed with no permissions
    (("",), "calculator.add"),
])
def test_a_grant_that_does_not_match_refuses(granted: tuple[str, ...], needed: str) -> None:
    assert not allows(client(*granted), needed)


def test_the_permission_asked_for_is_never_read_as_a_glob() -> None:
    # The needed permission comes from the path (POST /rpc/<service>/<method>): a client
    # allowed one method must not get all of them by asking for "cache.*".
    reader = client("cache.get")
    assert not allows(reader, "cache.*")
    assert not allows(reader, "*")
    assert not allows(reader, "cache.ge?")


def test_anonymous_may_do_everything() -> None:
    # GATEWAY_AUTH=none: v1's behaviour, everyone allowed everything.
    for needed in ("calculator.add", "cache.remove", "metrics", "anything.at_all"):
        assert allows(ANONYMOUS, needed)


def test_check_passes_silently_when_allowed() -> None:
    assert check(client("cache.*"), "cache.put") is None


def test_check_refuses_with_a_403_that_names_the_client_and_the_permission() -> None:
    with pytest.raises(Forbidden) as refused:
        check(client("cache.get", name="reader"), "cache.put")
    err = refused.value
    assert (err.status, err.code) == (403, "forbidden")
    assert "reader" in err.detail and "'cache.put'" in err.detail
    assert "cache.get" not in err.detail  # what the client holds is not disclosed


def test_a_client_without_a_name_is_this_client_in_the_detail() -> None:
    with pytest.raises(Forbidden) as refused:
        check(Client("", ("cache.get",)), "metrics")
    assert refused.value.detail.startswith("this client lacks")


def test_a_permission_from_the_path_is_quoted_in_the_detail() -> None:
    # The method name comes from the client: its repr, so control characters and
    # quotes it sent show as escapes, not as raw text in a log line or an answer.
    with pytest.raises(Forbidden) as refused:
        check(client("cache.get"), "cache.\nput'")
    assert "\n" not in refused.value.detail and "\\n" in refused.value.detail


# require: the check of a DEFERRED route -------------------------------------------------------

def test_require_checks_the_client_the_guard_left_in_the_environ() -> None:
    environ: dict[str, Any] = {CLIENT_ENVIRON_KEY: client("calculator.add", name="adder")}
    require(environ, "calculator.add")
    with pytest.raises(Forbidden) as refused:
        require(environ, "calculator.divide")  # POST /calc with op "divide", known once read
    assert "adder" in refused.value.detail and "'calculator.divide'" in refused.value.detail


def test_require_lets_everything_through_without_a_guard() -> None:
    # No client in the environ: the guard is not installed (auth none, no limits, no
    # CORS), so there is nobody to refuse.
    require({}, "calculator.divide")


def test_require_refuses_a_client_with_no_permissions_at_all() -> None:
    with pytest.raises(Forbidden):
        require({CLIENT_ENVIRON_KEY: client()}, "calculator.add")

