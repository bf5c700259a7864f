"""OAuth: refresh grant with Intuit's rotation, strict rotation, expiry, errors, codes."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import requests

from .conftest import Api


def refresh(emu, token, **kw):
    return requests.post(
        emu.token_url,
        auth=kw.pop("auth", (emu.client_id, emu.client_secret)),
        data={"grant_type": "refresh_token", "refresh_token": token, **kw},
        timeout=10,
    )


def test_same_refresh_token_within_24_hours_with_decreasing_lifetime(fresh):
    emu = fresh()
    rt = emu.refresh_token()
    first = refresh(emu, rt).json()
    emu.clock.advance(hours=5)
    second = refresh(emu, rt).json()
    assert first["refresh_token"] == second["refresh_token"] == rt
    assert second["x_refresh_token_expires_in"] < first["x_refresh_token_expires_in"]
    assert first["access_token"] != second["access_token"]
    assert first["token_type"] == "bearer"
    assert first["expires_in"] == 3600


def test_rotation_after_24_hours_old_token_lives_24_more(fresh):
    emu = fresh()
    old = emu.refresh_token()
    emu.clock.advance(hours=25)
    rotated = refresh(emu, old).json()["refresh_token"]
    assert rotated != old
    assert emu.refresh_token() == rotated
    emu.clock.advance(hours=23)
    again = refresh(emu, old)  # still inside the old token's grace day: serves the new one
    assert again.status_code == 200
    assert again.json()["refresh_token"] == rotated
    emu.clock.advance(hours=2)
    dead = refresh(emu, old)
    assert dead.status_code == 400
    assert dead.json() == {
        "error_description": "Incorrect or invalid refresh token",
        "error": "invalid_grant",
    }
    assert refresh(emu, rotated).status_code == 200


def test_strict_rotation_kills_the_old_token_at_once(fresh):
    emu = fresh()
    emu.behaviour.strict_rotation = True
    old = emu.refresh_token()
    new = refresh(emu, old).json()["refresh_token"]
    assert new != old
    assert refresh(emu, old).status_code == 400
    newer = refresh(emu, new).json()["refresh_token"]
    assert newer not in (old, new)
    assert emu.tap_config()["refresh_token"] == newer


def test_client_credentials_by_basic_or_form_and_errors(fresh):
    emu = fresh()
    rt = emu.refresh_token()
    bad = refresh(emu, rt, auth=(emu.client_id, "wrong"))
    assert bad.status_code == 401
    assert bad.json() == {"error": "invalid_client"}
    assert bad.headers.get("intuit_tid")
    form = requests.post(
        emu.token_url,
        data={
            "grant_type": "refresh_token",
            "refresh_token": rt,
            "client_id": emu.client_id,
            "client_secret": emu.client_secret,
        },
        timeout=10,
    )
    assert form.status_code == 200
    odd = requests.post(
        emu.token_url,
        auth=(emu.client_id, emu.client_secret),
        data={"grant_type": "password"},
        timeout=10,
    )
    assert odd.status_code == 400
    assert odd.json()["error"] == "unsupported_grant_type"


def test_access_token_expiry_gives_the_real_401(fresh):
    emu = fresh()
    emu.behaviour.access_token_lifetime = 120
    api = Api(emu)
    assert api.get("/companyinfo/" + api.realm).status_code == 200
    emu.clock.advance(seconds=121)
    r = api.get("/companyinfo/" + api.realm)
    assert r.status_code == 401
    assert r.headers["Content-Type"] == "application/json"
    body = r.json()
    assert body["fault"]["error"][0]["code"] == "3200"
    assert isinstance(body["time"], int)
    assert body["time"] > 10**12
    api.token = api.refresh()["access_token"]
    assert api.get("/companyinfo/" + api.realm).status_code == 200


def test_unknown_token_and_missing_header(fresh):
    emu = fresh()
    base = f"{emu.base_url}/v3/company/{emu.realm_ids[0]}/query"
    r = requests.get(
        base,
        params={"query": "select * from Term"},
        headers={"Authorization": "Bearer nope"},
        timeout=10,
    )
    assert r.status_code == 401
    assert r.json()["fault"]["type"] == "AUTHENTICATION"
    r = requests.get(base, params={"query": "select * from Term"}, timeout=10)
    assert r.status_code == 401


def test_token_of_another_realm_is_refused(fresh):
    emu = fresh(realms=2)
    a, b = emu.realm_ids
    api = Api(emu, a)
    r = requests.get(
        f"{emu.base_url}/v3/company/{b}/query",
        params={"query": "select * from Term"},
        headers=api.headers(),
        timeout=10,
    )
    assert r.status_code == 401
    assert r.headers["Content-Type"] == "application/xml"
    assert b'<Fault type="AuthenticationFault"><Error code="100">' in r.content
    assert Api(emu, b).query("select * from Term").status_code == 200


def test_authorization_code_flow(fresh):
    emu = fresh(realms=2)
    realm = emu.realm_ids[1]
    r = requests.get(
        emu.authorize_url,
        params={
            "client_id": emu.client_id,
            "redirect_uri": "http://localhost:9999/cb",
            "response_type": "code",
            "scope": "com.intuit.quickbooks.accounting openid",
            "state": "xyz",
            "realmId": realm,
        },
        allow_redirects=False,
        timeout=10,
    )
    assert r.status_code == 302
    loc = urlsplit(r.headers["Location"])
    assert loc.netloc == "localhost:9999"
    assert loc.path == "/cb"
    q = {k: v[0] for k, v in parse_qs(loc.query).items()}
    assert q["state"] == "xyz"
    assert q["realmId"] == realm
    assert q["code"]
    data = {
        "grant_type": "authorization_code",
        "code": q["code"],
        "redirect_uri": "http://localhost:9999/cb",
    }
    tok = requests.post(
        emu.token_url, auth=(emu.client_id, emu.client_secret), data=data, timeout=10
    )
    assert tok.status_code == 200
    body = tok.json()
    assert {
        "access_token",
        "refresh_token",
        "expires_in",
        "x_refresh_token_expires_in",
        "token_type",
        "id_token",
    } <= set(body)
    api = Api(emu, realm)
    api.token = body["access_token"]
    assert api.query("SELECT COUNT(*) FROM Customer").status_code == 200
    reuse = requests.post(
        emu.token_url, auth=(emu.client_id, emu.client_secret), data=data, timeout=10
    )
    assert reuse.status_code == 400
    assert reuse.json()["error"] == "invalid_grant"


def test_revoke_and_discovery_document(fresh):
    emu = fresh()
    doc = requests.get(f"{emu.base_url}/.well-known/openid_configuration", timeout=10).json()
    assert doc["token_endpoint"] == emu.token_url
    rt = emu.refresh_token()
    r = requests.post(
        doc["revocation_endpoint"],
        auth=(emu.client_id, emu.client_secret),
        json={"token": rt},
        timeout=10,
    )
    assert r.status_code == 200
    assert refresh(emu, rt).status_code == 400


def test_token_requests_are_counted(fresh):
    emu = fresh()
    emu.reset_counts()
    refresh(emu, emu.refresh_token())
    assert emu.request_counts()["token"] == 1
    assert emu.request_counts(emu.realm_ids[0])["token"] == 1
