"""Serializers for login, registration, users and roles."""
from __future__ import annotations

from django.contrib.auth import password_validation
from rest_framework import serializers

from accounts.models import Role, User


class RoleSerializer(serializers.ModelSerializer):
    user_count = serializers.IntegerField(read_only=True, required=False)

    class Meta:
        model = Role
        fields = ["id", "code", "name", "description", "created_at", "user_count"]
        read_only_fields = ["id", "created_at", "user_count"]


class UserSerializer(serializers.ModelSerializer):
    """What a user looks like to itself and to admins."""

    roles = serializers.SlugRelatedField(slug_field="code", many=True, read_only=True)

    class Meta:
        model = User
        fields = ["id", "username", "email", "full_name", "phone", "is_active", "is_superuser", "is_staff",
                  "roles", "created_at", "updated_at", "last_login"]
        read_only_fields = fields

    def to_representation(self, instance):
        data = super().to_representation(instance)
        data["roles"] = sorted(data["roles"])  # stable, like the role codes in tokens and logs
        return data


class LoginSerializer(serializers.Serializer):
    username = serializers.CharField(max_length=150)
    password = serializers.CharField(max_length=128, trim_whitespace=False, style={"input_type": "password"})


class TokenPairSerializer(serializers.Serializer):
    access_token = serializers.CharField()
    refresh_token = serializers.CharField()
    token_type = serializers.CharField()
    expires_in = serializers.IntegerField()


class LoginResponseSerializer(TokenPairSerializer):
    user = UserSerializer()


class RefreshSerializer(serializers.Serializer):
    refresh_token = serializers.CharField()


class RegisterSerializer(serializers.Serializer):
    username = serializers.RegexField(r"^[\w.@+-]+\Z", max_length=150)
    email = serializers.EmailField()
    password = serializers.CharField(max_length=128, trim_whitespace=False, write_only=True)
    full_name = serializers.CharField(max_length=200, required=False, allow_blank=True, default="")
    phone = serializers.CharField(max_length=32, required=False, allow_blank=True, default="")

    def validate_username(self, value):
        if User.objects.filter(username__iexact=value).exists():
            raise serializers.ValidationError("A user with that username already exists.", code="unique")
        return value

    def validate_email(self, value):
        if User.objects.filter(email__iexact=value).exists():
            raise serializers.ValidationError("A user with that email already exists.", code="unique")
        return value.lower()

    def validate(self, attrs):
        candidate = User(username=attrs["username"], email=attrs["email"], full_name=attrs.get("full_name", ""))
        try:
            password_validation.validate_password(attrs["password"], candidate)
        except Exception as exc:  # django ValidationError -> field error
            raise serializers.ValidationError({"password": list(getattr(exc, "messages", [str(exc)]))}) from exc
        return attrs


def _unique_email(value: str, instance: User | None) -> str:
    """Emails are unique regardless of case; stored lower-case."""
    value = value.lower()
    others = User.objects.exclude(pk=instance.pk) if instance is not None else User.objects.all()
    if others.filter(email__iexact=value).exists():
        raise serializers.ValidationError("A user with that email already exists.", code="unique")
    return value


class _PasswordMixin:
    def validate_email(self, value):
        return _unique_email(value, self.instance)

    def _validate_new_password(self, password: str, user: User) -> None:
        try:
            password_validation.validate_password(password, user)
        except Exception as exc:
            raise serializers.ValidationError({"password": list(getattr(exc, "messages", [str(exc)]))}) from exc


class AdminUserUpdateSerializer(_PasswordMixin, serializers.ModelSerializer):
    """Admins may change everything, including roles, activity and the password."""

    roles = serializers.SlugRelatedField(slug_field="code", many=True, queryset=Role.objects.all(), required=False)
    password = serializers.CharField(write_only=True, required=False, max_length=128, trim_whitespace=False)
    email = serializers.EmailField(required=False, max_length=254)  # never blank: it is unique
    username = serializers.RegexField(r"^[\w.@+-]+\Z", max_length=150, required=False)

    class Meta:
        model = User
        fields = ["username", "email", "full_name", "phone", "is_active", "is_superuser", "is_staff", "roles",
                  "password"]

    def validate_username(self, value):
        if User.objects.exclude(pk=self.instance.pk).filter(username__iexact=value).exists():
            raise serializers.ValidationError("A user with that username already exists.", code="unique")
        return value

    def validate(self, attrs):
        if "password" in attrs:
            self._validate_new_password(attrs["password"], self.instance)
        return attrs


class ProfileUpdateSerializer(_PasswordMixin, serializers.ModelSerializer):
    """What users may change about themselves: never roles, superuser or active flags."""

    password = serializers.CharField(write_only=True, required=False, max_length=128, trim_whitespace=False)
    current_password = serializers.CharField(write_only=True, required=False, max_length=128, trim_whitespace=False)
    email = serializers.EmailField(required=False, max_length=254)  # never blank: it is unique

    class Meta:
        model = User
        fields = ["full_name", "email", "phone", "password", "current_password"]

    def validate(self, attrs):
        forbidden = {"roles", "is_superuser", "is_active", "is_staff", "username"} & set(self.initial_data)
        if forbidden:
            raise serializers.ValidationError({name: ["You may not change this field."] for name in sorted(forbidden)},
                                              code="forbidden_field")
        if "password" in attrs:
            current = attrs.get("current_password")
            if not current or not self.instance.check_password(current):
                raise serializers.ValidationError({"current_password": ["The current password is wrong or missing."]})
            self._validate_new_password(attrs["password"], self.instance)
        return attrs
