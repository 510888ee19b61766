"""Login, lock-out, registration, refresh, logout and token expiry, through the real API."""
from __future__ import annotations

from datetime import timedelta

import pytest
from django.contrib.auth.hashers import identify_hasher
from django.utils import timezone
from rest_framework_simplejwt.tokens import AccessToken, RefreshToken

from accounts.models import User
from tests.conftest import PASSWORD

pytestmark = pytest.mark.django_db

LOGIN = "/api/auth/login"
REGISTER = "/api/auth/register"
REFRESH = "/api/auth/refresh"
LOGOUT = "/api/auth/logout"


def assert_error(response, status: int, code: str | None = None) -> dict:
    assert response.status_code == status, response.content[:400]
    body = response.json()
    assert set(body) == {"code", "detail", "errors"}, body
    if code is not None:
        assert body["code"] == code, body
    return body


# --- login -------------------------------------------------------------------------------------

def test_login_returns_tokens_and_the_user(api_client, make_user):
    user = make_user("operator", "alice", full_name="Alice Smith")
    response = api_client.post(LOGIN, {"username": "alice", "password": PASSWORD}, format="json")
    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"access_token", "refresh_token", "token_type", "expires_in", "user"}
    assert body["token_type"] == "bearer"
    assert body["expires_in"] == 30 * 60
    assert body["user"]["id"] == user.pk
    assert body["user"]["username"] == "alice"
    assert body["user"]["email"] == "alice@example.com"
    assert body["user"]["full_name"] == "Alice Smith"
    assert body["user"]["is_active"] is True
    assert body["user"]["is_superuser"] is False
    assert body["user"]["roles"] == ["operator"]
    assert AccessToken(body["access_token"])["user_id"] in (user.pk, str(user.pk))
    # The access token works on an authenticated endpoint.
    api_client.credentials(HTTP_AUTHORIZATION=f"Bearer {body['access_token']}")
    assert api_client.get("/api/users/info").json()["username"] == "alice"


def test_login_updates_last_login(api_client, make_user):
    user = make_user("viewer", "bob")
    assert user.last_login is None
    before = timezone.now()
    response = api_client.post(LOGIN, {"username": "bob", "password": PASSWORD}, format="json")
    assert response.status_code == 200
    user.refresh_from_db()
    assert user.last_login is not None and user.last_login >= before
    assert response.json()["user"]["last_login"] is not None


def test_login_with_a_wrong_password_is_401_and_changes_nothing(api_client, make_user):
    user = make_user("viewer", "carol")
    response = api_client.post(LOGIN, {"username": "carol", "password": "not-the-password"}, format="json")
    body = assert_error(response, 401, "invalid_credentials")
    assert "access_token" not in body
    assert response["WWW-Authenticate"].startswith("Bearer")
    user.refresh_from_db()
    assert user.last_login is None


def test_login_of_an_unknown_user_is_401(api_client, db):
    assert_error(api_client.post(LOGIN, {"username": "ghost", "password": "whatever-1"}, format="json"),
                 401, "invalid_credentials")


def test_inactive_user_cannot_log_in(api_client, make_user):
    user = make_user("admin", "dave", is_active=False)
    assert_error(api_client.post(LOGIN, {"username": "dave", "password": PASSWORD}, format="json"), 401)
    user.refresh_from_db()
    assert user.last_login is None


def test_login_without_fields_is_400_with_field_errors(api_client, db):
    body = assert_error(api_client.post(LOGIN, {}, format="json"), 400)
    assert set(body["errors"]) == {"username", "password"}


def test_login_with_wrong_types_is_400(api_client, db):
    body = assert_error(api_client.post(LOGIN, {"username": ["a"], "password": {"x": 1}}, format="json"), 400)
    assert set(body["errors"]) == {"username", "password"}


# --- lock-out ----------------------------------------------------------------------------------

def _fail(client, username, address):
    return client.post(LOGIN, {"username": username, "password": "wrong-password"}, format="json",
                       REMOTE_ADDR=address)


def test_repeated_failures_lock_the_username_out_with_retry_after(api_client, make_user, settings):
    settings.LOGIN_MAX_FAILURES = 3
    settings.LOGIN_LOCKOUT_SECONDS = 120
    make_user("viewer", "erin")
    for address in ("10.0.0.1", "10.0.0.2", "10.0.0.3"):  # spread over addresses: the username still counts
        assert _fail(api_client, "erin", address).status_code == 401
    # Locked: even the right password from a fresh address is refused, with Retry-After.
    response = api_client.post(LOGIN, {"username": "erin", "password": PASSWORD}, format="json",
                               REMOTE_ADDR="10.0.0.9")
    assert_error(response, 429, "throttled")
    assert 0 < int(response["Retry-After"]) <= 120
    # Another user from yet another address is not affected.
    make_user("viewer", "frank")
    ok = api_client.post(LOGIN, {"username": "frank", "password": PASSWORD}, format="json", REMOTE_ADDR="10.0.0.8")
    assert ok.status_code == 200


def test_repeated_failures_lock_the_client_address_out(api_client, make_user, settings):
    settings.LOGIN_MAX_FAILURES = 3
    make_user("viewer", "gina")
    for name in ("u1", "u2", "u3"):  # a spray over usernames from one address
        assert _fail(api_client, name, "192.0.2.7").status_code == 401
    response = api_client.post(LOGIN, {"username": "gina", "password": PASSWORD}, format="json",
                               REMOTE_ADDR="192.0.2.7")
    assert_error(response, 429, "throttled")
    assert int(response["Retry-After"]) > 0
    other = api_client.post(LOGIN, {"username": "gina", "password": PASSWORD}, format="json",
                            REMOTE_ADDR="192.0.2.8")
    assert other.status_code == 200


def test_lock_out_ends_after_its_window(api_client, make_user, settings):
    settings.LOGIN_MAX_FAILURES = 2
    settings.LOGIN_LOCKOUT_SECONDS = 1
    make_user("viewer", "hank")
    for _ in range(2):
        _fail(api_client, "hank", "10.1.1.1")
    assert _fail(api_client, "hank", "10.1.1.1").status_code == 429
    import time

    time.sleep(1.2)
    ok = api_client.post(LOGIN, {"username": "hank", "password": PASSWORD}, format="json", REMOTE_ADDR="10.1.1.1")
    assert ok.status_code == 200


def test_a_success_resets_the_username_count(api_client, make_user, settings):
    settings.LOGIN_MAX_FAILURES = 3
    make_user("viewer", "ivy")
    for address in ("10.2.0.1", "10.2.0.2"):
        _fail(api_client, "ivy", address)
    assert api_client.post(LOGIN, {"username": "ivy", "password": PASSWORD}, format="json",
                           REMOTE_ADDR="10.2.0.3").status_code == 200
    for address in ("10.2.0.4", "10.2.0.5"):
        assert _fail(api_client, "ivy", address).status_code == 401  # counting starts again from zero


# --- registration ------------------------------------------------------------------------------

def test_register_creates_an_active_user_with_the_default_role(api_client, roles):
    data = {"username": "newbie", "email": "Newbie@Example.com", "password": "a-long-passphrase-42",
            "full_name": "New Bie"}
    response = api_client.post(REGISTER, data, format="json")
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["username"] == "newbie"
    assert body["email"] == "newbie@example.com"
    assert body["roles"] == ["viewer"]
    assert "password" not in body
    user = User.objects.get(username="newbie")
    assert user.is_active and not user.is_superuser
    assert user.check_password("a-long-passphrase-42")
    login = api_client.post(LOGIN, {"username": "newbie", "password": "a-long-passphrase-42"}, format="json")
    assert login.status_code == 200


def test_register_uses_the_configured_default_role(api_client, roles, settings):
    settings.DEFAULT_ROLE = "operator"
    response = api_client.post(REGISTER, {"username": "op", "email": "op@example.com",
                                          "password": "a-long-passphrase-42"}, format="json")
    assert response.status_code == 201
    assert response.json()["roles"] == ["operator"]


@pytest.mark.parametrize(("change", "field"), [
    ({"username": "Taken"}, "username"),
    ({"email": "TAKEN@example.com"}, "email"),
])
def test_register_with_a_duplicate_is_400_and_writes_nothing(api_client, make_user, change, field):
    make_user("viewer", "taken")
    before = User.objects.count()
    data = {"username": "fresh", "email": "fresh@example.com", "password": "a-long-passphrase-42", **change}
    body = assert_error(api_client.post(REGISTER, data, format="json"), 400)
    assert field in body["errors"]
    assert User.objects.count() == before


@pytest.mark.parametrize("password", ["short1", "password123", "12345678901", "freshuser1"])
def test_register_with_a_weak_password_is_400_and_writes_nothing(api_client, roles, password):
    data = {"username": "freshuser1", "email": "fresh@example.com", "password": password}
    body = assert_error(api_client.post(REGISTER, data, format="json"), 400)
    assert list(body["errors"]) == ["password"]
    assert not User.objects.filter(username="freshuser1").exists()


def test_register_with_missing_fields_and_bad_email_is_400(api_client, roles):
    body = assert_error(api_client.post(REGISTER, {"username": "x y", "email": "not-an-email"}, format="json"), 400)
    assert set(body["errors"]) == {"username", "email", "password"}
    assert User.objects.count() == 0


def test_register_can_be_disabled(api_client, roles, settings):
    settings.ALLOW_REGISTRATION = False
    assert_error(api_client.post(REGISTER, {"username": "n", "email": "n@example.com",
                                            "password": "a-long-passphrase-42"}, format="json"), 403)
    assert User.objects.count() == 0


# --- refresh and logout ------------------------------------------------------------------------

def _login(client, username) -> dict:
    response = client.post(LOGIN, {"username": username, "password": PASSWORD}, format="json")
    assert response.status_code == 200
    return response.json()


def test_refresh_rotates_and_the_old_refresh_token_is_refused(api_client, make_user):
    make_user("viewer", "jack")
    tokens = _login(api_client, "jack")
    response = api_client.post(REFRESH, {"refresh_token": tokens["refresh_token"]}, format="json")
    assert response.status_code == 200
    fresh = response.json()
    assert set(fresh) == {"access_token", "refresh_token", "token_type", "expires_in"}
    assert fresh["refresh_token"] != tokens["refresh_token"]
    assert fresh["token_type"] == "bearer"
    again = api_client.post(REFRESH, {"refresh_token": tokens["refresh_token"]}, format="json")
    assert_error(again, 401, "token_not_valid")
    # The rotated one still works.
    assert api_client.post(REFRESH, {"refresh_token": fresh["refresh_token"]}, format="json").status_code == 200


def test_refresh_with_garbage_or_an_access_token_is_401(api_client, make_user):
    make_user("viewer", "kim")
    tokens = _login(api_client, "kim")
    assert_error(api_client.post(REFRESH, {"refresh_token": "garbage"}, format="json"), 401, "token_not_valid")
    assert_error(api_client.post(REFRESH, {"refresh_token": tokens["access_token"]}, format="json"),
                 401, "token_not_valid")
    assert_error(api_client.post(REFRESH, {}, format="json"), 400)


def test_refresh_for_a_deactivated_user_is_401(api_client, make_user):
    user = make_user("viewer", "lee")
    tokens = _login(api_client, "lee")
    User.objects.filter(pk=user.pk).update(is_active=False)
    assert_error(api_client.post(REFRESH, {"refresh_token": tokens["refresh_token"]}, format="json"), 401)


def test_logout_kills_the_refresh_token(api_client, make_user):
    make_user("viewer", "max")
    tokens = _login(api_client, "max")
    response = api_client.post(LOGOUT, {"refresh_token": tokens["refresh_token"]}, format="json")
    assert response.status_code == 204
    assert response.content == b""
    assert_error(api_client.post(REFRESH, {"refresh_token": tokens["refresh_token"]}, format="json"),
                 401, "token_not_valid")
    assert_error(api_client.post(LOGOUT, {"refresh_token": tokens["refresh_token"]}, format="json"),
                 401, "token_not_valid")


def test_logout_with_a_bad_token_is_401_and_without_one_400(api_client, db):
    assert_error(api_client.post(LOGOUT, {"refresh_token": "nope"}, format="json"), 401, "token_not_valid")
    assert_error(api_client.post(LOGOUT, {}, format="json"), 400)


# --- access tokens -----------------------------------------------------------------------------

def test_expired_access_token_is_401_token_not_valid(api_client, make_user):
    user = make_user("admin", "nina")
    token = AccessToken.for_user(user)
    token.set_exp(from_time=timezone.now() - timedelta(hours=2), lifetime=timedelta(minutes=30))
    api_client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    response = api_client.get("/api/users/")
    body = assert_error(response, 401, "token_not_valid")
    assert body["detail"]
    assert response["WWW-Authenticate"].startswith("Bearer")


def test_tampered_access_token_is_401(api_client, make_user):
    token = str(AccessToken.for_user(make_user("admin", "oscar")))
    api_client.credentials(HTTP_AUTHORIZATION=f"Bearer {token[:-4]}AAAA")
    assert_error(api_client.get("/api/users/info"), 401, "token_not_valid")


def test_refresh_token_is_not_accepted_as_an_access_token(api_client, make_user):
    refresh = RefreshToken.for_user(make_user("admin", "pat"))
    api_client.credentials(HTTP_AUTHORIZATION=f"Bearer {refresh}")
    assert_error(api_client.get("/api/users/info"), 401, "token_not_valid")


def test_no_credentials_is_401_not_authenticated(api_client, db):
    assert_error(api_client.get("/api/users/info"), 401, "not_authenticated")


# --- password hashing --------------------------------------------------------------------------

def test_a_bcrypt_hash_logs_in(api_client, roles, settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.BCryptSHA256PasswordHasher",
                                 "django.contrib.auth.hashers.PBKDF2PasswordHasher"]
    user = User.objects.create_user("quinn", "quinn@example.com", PASSWORD)
    assert user.password.startswith("bcrypt_sha256$")
    assert identify_hasher(user.password).algorithm == "bcrypt_sha256"
    assert _login(api_client, "quinn")["user"]["username"] == "quinn"
