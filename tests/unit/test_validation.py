from __future__ import annotations

import io
import json
import unicodedata

import pytest

from gateway.errors import InvalidArgument, InvalidJson, InvalidKey, PayloadTooLarge
from gateway.http import validation
from thrift_idl.cache_rules import key_problem


@pytest.mark.parametrize(("text", "value"), [("0", 0), ("-0", 0), ("42", 42), ("-7", -7), ("007", 7),
                                             ("9223372036854775807", 2**63 - 1), ("-9223372036854775808", -(2**63))])
def test_path_int_accepts(text: str, value: int) -> None:
    assert validation.path_int("a", text) == value


@pytest.mark.parametrize("text", ["", "+5", "1_000", " 5", "5 ", "1.0", "1e3", "٣", "--1", "0x10",
                                  "9223372036854775808", "-9223372036854775809", "1" * 5000])
def test_path_int_refuses(text: str) -> None:
    with pytest.raises(InvalidArgument):
        validation.path_int("a", text)


@pytest.mark.parametrize("value", [True, False, 1.0, 2.5, "1", None, [1], {"x": 1}, 2**63])
def test_json_int_refuses(value: object) -> None:
    with pytest.raises(InvalidArgument):
        validation.json_int({"a": value}, "a")


def test_json_int_requires_the_member() -> None:
    with pytest.raises(InvalidArgument, match="a is required"):
        validation.json_int({}, "a")


@pytest.mark.parametrize("raw", [b"", b"[]", b"1", b"null", b"{", b"\xff", b'{"a": Infinity}', b'{"a": -NaN}'])
def test_json_object_refuses(raw: bytes) -> None:
    with pytest.raises(InvalidJson):
        validation.json_object(raw)


def test_json_object_survives_deep_nesting() -> None:
    with pytest.raises(InvalidJson):
        validation.json_object(b"[" * 200000 + b"]" * 200000)


def test_read_body_checks_content_length_before_reading() -> None:
    class Unreadable(io.BytesIO):
        def read(self, *args):  # pragma: no cover - must not be called
            raise AssertionError("body was read")

    with pytest.raises(PayloadTooLarge):
        validation.read_body({"wsgi.input": Unreadable()}, validation.MAX_BODY_BYTES + 1)


def test_read_body_without_length_reads_one_byte_past_the_limit() -> None:
    limit = validation.MAX_BODY_BYTES
    assert len(validation.read_body({"wsgi.input": io.BytesIO(b"x" * limit)}, None)) == limit
    with pytest.raises(PayloadTooLarge):
        validation.read_body({"wsgi.input": io.BytesIO(b"x" * (limit + 1))}, None)


@pytest.mark.parametrize("key", ["a", "é" * 125, "a/b", "/x", "a//b", "☃", "\ufffd"])
def test_keys_accepted(key: str) -> None:
    assert validation.cache_key(key, "/cache/" + key.encode().decode("latin-1")) == key


@pytest.mark.parametrize("key", ["", "a b", "a\tb", "a\nb", "\x7f", "a\x85b", "a\u3000b", "é" * 125 + "a", "\ud800"])
def test_keys_refused(key: str) -> None:
    with pytest.raises(InvalidKey):
        validation.checked_key(key)


def test_every_ascii_character_is_judged_by_the_key_rule() -> None:
    # Printable ASCII keys take a shortcut past the per-character rule: it must judge
    # every ASCII character as that rule does (whitespace and control characters out).
    for code in range(128):
        char = chr(code)
        refused = char.isspace() or unicodedata.category(char) == "Cc"
        assert (key_problem(f"a{char}b") is not None) == refused, repr(char)
        assert (key_problem(char) is not None) == refused, repr(char)


@pytest.mark.parametrize("text", ['{"a": 1}', " [1, 2] ", "", " ", '{"a": 1} x', "{", '"\\ud800"', "1 2", "\n1\n"])
def test_strict_json_reads_as_json_loads_does(text: str) -> None:
    try:
        expected: object = json.loads(text)
    except ValueError as err:
        with pytest.raises(ValueError, match=str(err).split(":")[0]):
            validation.strict_json(text)
    else:
        assert validation.strict_json(text) == expected


def test_invalid_utf8_in_the_path_is_refused() -> None:
    with pytest.raises(InvalidKey, match="UTF-8"):
        validation.cache_key("\ufffd", "/cache/\xff")


@pytest.mark.parametrize("ttl", [0, -5, 2592001, 1.5, "5", True])
def test_ttl_refused(ttl: object) -> None:
    with pytest.raises(InvalidArgument):
        validation.ttl({"ttl": ttl})


def test_ttl_absent_or_null_is_no_expiry() -> None:
    assert validation.ttl({}) is None and validation.ttl({"ttl": None}) is None
    assert validation.ttl({"ttl": 2592000}) == 2592000


def test_value_is_stored_as_compact_json_within_one_mib() -> None:
    assert validation.encoded_value({"value": {"a": [1, "é"]}}) == '{"a":[1,"é"]}'.encode()
    fits = "x" * (1024 * 1024 - 2)
    assert len(validation.encoded_value({"value": fits})) == 1024 * 1024
    with pytest.raises(PayloadTooLarge):
        validation.encoded_value({"value": fits + "x"})
    with pytest.raises(InvalidArgument):
        validation.encoded_value({})


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "utf-16", "utf-16-le", "utf-16-be", "utf-32", "utf-32-le",
                                      "utf-32-be"])
def test_a_json_object_body_is_read_in_any_encoding_json_loads_reads(encoding: str) -> None:
    # UTF-8 starting with "{" skips the encoding detection; "{" then a zero byte is UTF-16/32.
    assert validation.json_object('{"a":"é"}'.encode(encoding)) == {"a": "é"}
