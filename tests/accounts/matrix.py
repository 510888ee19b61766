from tests.matrix import ADMIN_ONLY_READ, READ, Endpoint, admin_write, expect


def _self_id(ctx):
    return {"pk": ctx.user.pk if ctx.user else ctx.make_user("viewer").pk}


def _other_id(ctx):
    return {"pk": ctx.make_user("viewer", "someone-else").pk}


def _unused_role(ctx):
    from accounts.models import Role

    return {"pk": Role.objects.create(code="auditor", name="Auditor").pk}


def _refresh(ctx):
    from rest_framework_simplejwt.tokens import RefreshToken

    return {"refresh_token": str(RefreshToken.for_user(ctx.make_user("viewer", "token-owner")))}


ENDPOINTS = [
    Endpoint("POST", "accounts:login", expect(401, 401, 401, 401),
             data={"username": "nobody", "password": "wrong-password"}, note="bad credentials"),
    Endpoint("POST", "accounts:register", expect(201, 201, 201, 201),
             data=lambda ctx: {"username": f"new-{ctx.user.pk if ctx.user else 0}", "email": "new@example.com",
                               "password": "a-long-passphrase-42", "full_name": "New"}),
    Endpoint("POST", "accounts:refresh", expect(200, 200, 200, 200), data=_refresh),
    Endpoint("POST", "accounts:logout", expect(204, 204, 204, 204), data=_refresh),
    Endpoint("GET", "accounts:profile", READ),
    Endpoint("PATCH", "accounts:profile", READ, data={"full_name": "Changed"}),
    Endpoint("GET", "accounts:user-list", ADMIN_ONLY_READ),
    Endpoint("GET", "accounts:user-detail", READ, kwargs=_self_id, note="self"),
    Endpoint("GET", "accounts:user-detail", expect(401, 404, 404, 200), kwargs=_other_id, note="other"),
    Endpoint("PATCH", "accounts:user-detail", expect(401, 404, 404, 200), kwargs=_other_id,
             data={"full_name": "X"}),
    Endpoint("PUT", "accounts:user-detail", expect(401, 404, 404, 200), kwargs=_other_id,
             data={"username": "renamed", "email": "renamed@example.com", "full_name": "R", "phone": "",
                   "is_active": True, "is_superuser": False, "is_staff": False}),
    Endpoint("DELETE", "accounts:user-detail", expect(401, 404, 404, 204), kwargs=_other_id),
    Endpoint("GET", "accounts:role-list", READ),
    Endpoint("POST", "accounts:role-list", admin_write(201), data={"code": "auditor", "name": "Auditor"}),
    Endpoint("GET", "accounts:role-detail", READ, kwargs=_unused_role),
    Endpoint("PATCH", "accounts:role-detail", admin_write(200), kwargs=_unused_role, data={"name": "Auditors"}),
    Endpoint("PUT", "accounts:role-detail", admin_write(200), kwargs=_unused_role,
             data={"code": "auditor", "name": "Auditors", "description": "d"}),
    Endpoint("DELETE", "accounts:role-detail", admin_write(204), kwargs=_unused_role),
]
