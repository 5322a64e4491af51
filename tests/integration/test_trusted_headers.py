"""What the gateway trusts from request headers (issue 22, item 3): nothing that changes the
path, and nothing that changes the scheme. The test client is on loopback, which is
inside Gunicorn's default forwarded_allow_ips: the very peer Gunicorn would trust."""

from __future__ import annotations

import pytest
import requests

# Each header set reached Gunicorn's trust rules: an HTML 500 (SCRIPT_NAME not a prefix of
# the path), a 404 (SCRIPT_NAME cut "/add" off the path) or an HTML 400 (scheme headers
# that disagree) before gunicorn.conf.py named none of them trusted.
HEADERS = [
    {"SCRIPT_NAME": "/nope"},
    {"SCRIPT_NAME": "/add"},
    {"SCRIPT_NAME": "/add/1"},
    {"PATH_INFO": "/metrics"},
    {"SCRIPT_NAME": "/", "PATH_INFO": "/healthz"},
    {"X-Forwarded-Proto": "https", "X-Forwarded-Ssl": "off"},
    {"X-Forwarded-Protocol": "ssl", "X-Forwarded-Proto": "http"},
]


@pytest.mark.parametrize("headers", HEADERS, ids=lambda h: ",".join(f"{k}={v}" for k, v in h.items()))
def test_forwarding_headers_change_nothing(gw: str, headers: dict[str, str]) -> None:
    response = requests.get(f"{gw}/add/1/2", headers=headers, timeout=5)
    assert response.status_code == 200, response.text[:300]
    assert response.headers["Content-Type"] == "application/json"
    assert response.json() == {"result": 3}


@pytest.mark.parametrize("headers", HEADERS[:2], ids=["not-a-prefix", "a-prefix"])
def test_an_unknown_path_stays_a_json_404_whatever_script_name_says(gw: str, headers: dict[str, str]) -> None:
    response = requests.get(f"{gw}/nope/add/1/2", headers=headers, timeout=5)
    assert response.status_code == 404
    assert response.headers["Content-Type"] == "application/problem+json"
    assert response.json()["code"] == "not_found"
