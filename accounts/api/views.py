"""Auth, users and roles endpoints."""
from __future__ import annotations

from django.conf import settings
from django.core.cache import cache
from django.db.models import Count
from drf_spectacular.utils import OpenApiExample, extend_schema, extend_schema_view
from rest_framework import mixins, status, viewsets
from rest_framework.exceptions import APIException, AuthenticationFailed, NotFound, PermissionDenied, Throttled
from rest_framework.generics import get_object_or_404
from rest_framework.permissions import AllowAny, IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView
from rest_framework_simplejwt.exceptions import TokenError
from rest_framework_simplejwt.serializers import TokenRefreshSerializer
from rest_framework_simplejwt.tokens import RefreshToken

from accounts import services
from accounts.models import Role, User
from accounts.permissions import IsAdmin, role_level
from aimonitor.api.errors import Conflict
from aimonitor.api.schema import ERROR_RESPONSES, PUBLIC_AUTH

from .filters import UserFilter
from .serializers import (
    AdminUserUpdateSerializer,
    LoginResponseSerializer,
    LoginSerializer,
    ProfileUpdateSerializer,
    RefreshSerializer,
    RegisterSerializer,
    RoleSerializer,
    TokenPairSerializer,
    UserSerializer,
)

USER_EXAMPLE = {"id": 1, "username": "alice", "email": "alice@example.com", "full_name": "Alice Smith",
                "phone": "", "is_active": True, "is_superuser": False, "is_staff": False, "roles": ["operator"],
                "created_at": "2026-11-28T10:00:00Z", "updated_at": "2026-11-28T10:00:00Z",
                "last_login": "2026-11-28T10:05:00Z"}


class BadRequest(APIException):
    status_code = status.HTTP_400_BAD_REQUEST
    default_detail = "Invalid input."
    default_code = "invalid"


def as_api_error(conflict: services.AccountConflict, status_code: int = 400) -> APIException:
    """A service's refusal -> an API error in the shared shape (400 with field errors, or 409)."""
    body = {"code": conflict.code, "detail": conflict.detail, "errors": conflict.errors}
    return Conflict(body) if status_code == 409 else BadRequest(body)


def client_address(request) -> str:
    return request.META.get("REMOTE_ADDR") or "unknown"


class PublicView(APIView):
    """An endpoint anyone may call; credential failures still answer 401 with a Bearer challenge."""

    authentication_classes: list = []
    permission_classes = [AllowAny]

    def get_authenticate_header(self, request):
        return 'Bearer realm="api"'


class LoginView(PublicView):
    @extend_schema(
        summary="Log in with a username and password", auth=PUBLIC_AUTH,
        tags=["auth"], request=LoginSerializer,
        responses={200: LoginResponseSerializer, **ERROR_RESPONSES(400, 401, 429)},
        examples=[
            OpenApiExample("credentials", request_only=True, value={"username": "alice", "password": "s3cret-pass"}),
            OpenApiExample("tokens", response_only=True, status_codes=["200"], value={
                "access_token": "eyJ...", "refresh_token": "eyJ...", "token_type": "bearer", "expires_in": 1800,
                "user": {k: USER_EXAMPLE[k] for k in ("id", "username", "email", "full_name", "is_active",
                                                       "is_superuser", "roles")}}),
        ],
    )
    def post(self, request):
        serializer = LoginSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        try:
            user = services.login(address=client_address(request), request=request, **serializer.validated_data)
        except services.LoginBlocked as blocked:
            raise Throttled(wait=blocked.retry_after,
                            detail="Too many failed logins; try again later.") from None
        if user is None:
            raise AuthenticationFailed("Invalid username or password.", code="invalid_credentials")
        return Response({**services.issue_tokens(user), "user": UserSerializer(user).data})


class RegisterView(PublicView):
    @extend_schema(
        summary="Register a new account (given the default role)", auth=PUBLIC_AUTH, tags=["auth"],
        request=RegisterSerializer,
        responses={201: UserSerializer, **ERROR_RESPONSES(400, 403)},
        examples=[OpenApiExample("new user", request_only=True, value={
            "username": "bob", "email": "bob@example.com", "password": "a-long-passphrase", "full_name": "Bob"})],
    )
    def post(self, request):
        if not settings.ALLOW_REGISTRATION:
            raise PermissionDenied("Self-registration is disabled.")
        serializer = RegisterSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        try:
            user = services.register_user(**serializer.validated_data)
        except services.AccountConflict as conflict:
            raise as_api_error(conflict) from None
        return Response(UserSerializer(user).data, status=status.HTTP_201_CREATED)


class RefreshView(PublicView):
    @extend_schema(
        summary="Exchange a refresh token for new tokens (the refresh token rotates)", auth=PUBLIC_AUTH, tags=["auth"],
        request=RefreshSerializer, responses={200: TokenPairSerializer, **ERROR_RESPONSES(400, 401)},
        examples=[OpenApiExample("refresh", request_only=True, value={"refresh_token": "eyJ..."})],
    )
    def post(self, request):
        serializer = RefreshSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        inner = TokenRefreshSerializer(data={"refresh": serializer.validated_data["refresh_token"]})
        try:
            inner.is_valid(raise_exception=True)
        except TokenError as exc:
            raise AuthenticationFailed(str(exc), code="token_not_valid") from exc
        except Exception as exc:
            raise AuthenticationFailed("Token is invalid or expired.", code="token_not_valid") from exc
        data = inner.validated_data
        return Response({
            "access_token": data["access"],
            "refresh_token": data.get("refresh", serializer.validated_data["refresh_token"]),
            "token_type": "bearer",
            "expires_in": int(settings.SIMPLE_JWT["ACCESS_TOKEN_LIFETIME"].total_seconds()),
        })


class LogoutView(PublicView):
    @extend_schema(
        summary="Log out: the refresh token is blacklisted", auth=PUBLIC_AUTH, tags=["auth"], request=RefreshSerializer,
        responses={204: None, **ERROR_RESPONSES(400, 401)},
        examples=[OpenApiExample("logout", request_only=True, value={"refresh_token": "eyJ..."})],
    )
    def post(self, request):
        serializer = RefreshSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        try:
            RefreshToken(serializer.validated_data["refresh_token"]).blacklist()
        except TokenError as exc:
            raise AuthenticationFailed(str(exc), code="token_not_valid") from exc
        return Response(status=status.HTTP_204_NO_CONTENT)


class ProfileView(APIView):
    permission_classes = [IsAuthenticated]

    @extend_schema(summary="The caller's own profile", tags=["users"],
                   responses={200: UserSerializer, **ERROR_RESPONSES(401)},
                   examples=[OpenApiExample("me", response_only=True, value=USER_EXAMPLE)])
    def get(self, request):
        return Response(UserSerializer(request.user).data)

    @extend_schema(
        summary="Edit the caller's own profile (a new password needs the current one)", tags=["users"],
        request=ProfileUpdateSerializer, responses={200: UserSerializer, **ERROR_RESPONSES(400, 401)},
        examples=[OpenApiExample("change name", request_only=True, value={"full_name": "Alice B. Smith"})],
    )
    def patch(self, request):
        serializer = ProfileUpdateSerializer(request.user, data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        changes = dict(serializer.validated_data)
        changes.pop("current_password", None)
        password = changes.pop("password", None)
        try:
            user = services.update_profile(request.user, changes=changes, password=password)
        except services.AccountConflict as conflict:
            raise as_api_error(conflict) from None
        return Response(UserSerializer(user).data)


ROLE_EXAMPLE = {"id": 4, "code": "auditor", "name": "Auditor", "description": "Reads audit trails.",
                "created_at": "2026-11-28T10:00:00Z", "user_count": 0}
USER_PATCH_EXAMPLE = OpenApiExample("make operator", request_only=True,
                                    value={"roles": ["operator"], "is_active": True})


def _page(example: dict) -> dict:
    return {"count": 1, "next": None, "previous": None, "results": [example]}


@extend_schema_view(
    list=extend_schema(summary="List users (admins)", tags=["users"],
                       responses={200: UserSerializer(many=True), **ERROR_RESPONSES(400, 401, 403, 404)},
                       examples=[OpenApiExample("users", response_only=True, value=_page(USER_EXAMPLE))]),
    retrieve=extend_schema(summary="A user: admins see anyone, others only themselves", tags=["users"],
                           responses={200: UserSerializer, **ERROR_RESPONSES(401, 404)},
                           examples=[OpenApiExample("user", response_only=True, value=USER_EXAMPLE)]),
    partial_update=extend_schema(summary="Change a user (admins)", tags=["users"], request=AdminUserUpdateSerializer,
                                 responses={200: UserSerializer, **ERROR_RESPONSES(400, 401, 403, 404)},
                                 examples=[USER_PATCH_EXAMPLE,
                                           OpenApiExample("user", response_only=True, value=USER_EXAMPLE)]),
    update=extend_schema(summary="Replace a user's editable fields (admins)", tags=["users"],
                         request=AdminUserUpdateSerializer,
                         responses={200: UserSerializer, **ERROR_RESPONSES(400, 401, 403, 404)},
                         examples=[OpenApiExample("replace", request_only=True, value={
                             k: USER_EXAMPLE[k] for k in ("username", "email", "full_name", "phone", "is_active",
                                                          "is_superuser", "is_staff", "roles")})]),
    destroy=extend_schema(summary="Delete a user (admins; never yourself)", tags=["users"],
                          responses={204: None, **ERROR_RESPONSES(401, 403, 404, 409)}),
)
class UserViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, mixins.UpdateModelMixin,
                  mixins.DestroyModelMixin, viewsets.GenericViewSet):
    serializer_class = UserSerializer
    lookup_value_regex = r"\d+"
    filterset_class = UserFilter
    search_fields = ["username", "email", "full_name"]
    ordering_fields = ["id", "username", "created_at", "last_login"]
    permission_classes = [IsAuthenticated]

    def get_queryset(self):
        return User.objects.prefetch_related("roles").order_by("id")

    def get_permissions(self):
        if self.action == "list":
            return [IsAdmin()]
        return super().get_permissions()

    def get_object(self):
        user = get_object_or_404(self.get_queryset(), pk=self.kwargs["pk"])
        is_admin = role_level(self.request.user) >= 3
        if not is_admin and user.pk != self.request.user.pk:
            raise NotFound()  # no existence leak
        if not is_admin and self.action != "retrieve":
            raise PermissionDenied("Only admins may change users; use /api/users/info for your own profile.")
        return user

    def get_serializer_class(self):
        if self.action in ("update", "partial_update"):
            return AdminUserUpdateSerializer
        return UserSerializer

    def perform_update(self, serializer):
        changes = dict(serializer.validated_data)
        password = changes.pop("password", None)
        roles = changes.pop("roles", None)
        try:
            services.update_user(serializer.instance, acting_user=self.request.user, changes=changes,
                                 password=password, role_codes=None if roles is None else [r.code for r in roles])
        except services.AccountConflict as conflict:
            raise as_api_error(conflict) from None

    def update(self, request, *args, **kwargs):
        super().update(request, *args, **kwargs)
        return Response(UserSerializer(self.get_object()).data)

    def perform_destroy(self, instance):
        try:
            services.delete_user(instance, acting_user=self.request.user)
        except services.AccountConflict as conflict:
            raise as_api_error(conflict, status_code=409) from None


@extend_schema_view(
    list=extend_schema(summary="List roles (cached)", tags=["roles"],
                       responses={200: RoleSerializer(many=True), **ERROR_RESPONSES(401, 404)},
                       examples=[OpenApiExample("roles", response_only=True, value=_page(ROLE_EXAMPLE))]),
    retrieve=extend_schema(summary="A role", tags=["roles"],
                           responses={200: RoleSerializer, **ERROR_RESPONSES(401, 404)},
                           examples=[OpenApiExample("role", response_only=True, value=ROLE_EXAMPLE)]),
    create=extend_schema(summary="Create a role (admins)", tags=["roles"],
                         responses={201: RoleSerializer, **ERROR_RESPONSES(400, 401, 403)},
                         examples=[OpenApiExample("role", request_only=True,
                                                  value={"code": "auditor", "name": "Auditor", "description": ""}),
                                   OpenApiExample("created", response_only=True, status_codes=["201"],
                                                  value=ROLE_EXAMPLE)]),
    update=extend_schema(summary="Replace a role (admins; built-in codes are fixed)", tags=["roles"],
                         responses={200: RoleSerializer, **ERROR_RESPONSES(400, 401, 403, 404)},
                         examples=[OpenApiExample("role", request_only=True, value={
                             "code": "auditor", "name": "Auditors", "description": "Reads audit trails."})]),
    partial_update=extend_schema(summary="Change a role (admins; built-in codes are fixed)", tags=["roles"],
                                 responses={200: RoleSerializer, **ERROR_RESPONSES(400, 401, 403, 404)},
                                 examples=[OpenApiExample("rename", request_only=True, value={"name": "Auditors"})]),
    destroy=extend_schema(summary="Delete a role no user holds (admins); 409 while held or built in", tags=["roles"],
                          responses={204: None, **ERROR_RESPONSES(401, 403, 404, 409)}),
)
class RoleViewSet(viewsets.ModelViewSet):
    serializer_class = RoleSerializer
    lookup_value_regex = r"\d+"
    search_fields = ["code", "name"]
    ordering_fields = ["id", "code", "name"]

    def get_queryset(self):
        return Role.objects.annotate(user_count=Count("users")).order_by("id")

    def list(self, request, *args, **kwargs):
        key = services.roles_list_cache_key(request.get_full_path())
        cached = cache.get(key)
        if cached is None:
            cached = super().list(request, *args, **kwargs).data
            cache.set(key, cached, settings.ROLES_CACHE_SECONDS)
        return Response(cached)

    def perform_create(self, serializer):
        try:
            role = services.save_role(Role(), dict(serializer.validated_data))
        except services.AccountConflict as conflict:
            raise as_api_error(conflict) from None
        serializer.instance = self.get_queryset().get(pk=role.pk)  # with its holder count

    def perform_update(self, serializer):
        try:
            role = services.save_role(serializer.instance, dict(serializer.validated_data))
        except services.AccountConflict as conflict:
            raise as_api_error(conflict) from None
        serializer.instance = self.get_queryset().get(pk=role.pk)

    def perform_destroy(self, instance):
        try:
            services.delete_role(instance)
        except services.RoleInUse as in_use:
            if in_use.builtin:
                raise Conflict({"code": "builtin_role", "detail": "A built-in role cannot be deleted.",
                                "errors": {}}) from None
            raise Conflict({"code": "role_in_use", "detail": f"{in_use.holders} user(s) still hold this role.",
                            "errors": {"user_count": [str(in_use.holders)]}}) from None
