"""Users and roles."""
from __future__ import annotations

from django.contrib.auth.models import AbstractBaseUser, BaseUserManager, PermissionsMixin
from django.db import models
from django.utils import timezone

from .choices import ROLE_LEVELS, RoleCode


class Role(models.Model):
    """A named set of rights. The built-in codes (viewer, operator, admin) drive API permissions;
    other roles may be created for bookkeeping and carry no rights of their own."""

    code = models.SlugField(max_length=50, unique=True)
    name = models.CharField(max_length=100)
    description = models.TextField(blank=True)
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return self.name


class UserManager(BaseUserManager):
    use_in_migrations = True

    def _create(self, username, email, password, **extra):
        if not username:
            raise ValueError("A username is required.")
        user = self.model(username=username, email=self.normalize_email(email) if email else None, **extra)
        user.set_password(password)
        user.save(using=self._db)
        return user

    def create_user(self, username, email=None, password=None, **extra):
        extra.setdefault("is_superuser", False)
        extra.setdefault("is_staff", False)
        return self._create(username, email, password, **extra)

    def create_superuser(self, username, email=None, password=None, **extra):
        extra.update(is_superuser=True, is_staff=True)
        return self._create(username, email, password, **extra)


class User(AbstractBaseUser, PermissionsMixin):
    """A person who signs in. Rights come from roles (``role_level``); superusers are admins."""

    username = models.CharField(max_length=150, unique=True)
    email = models.EmailField(unique=True, null=True, blank=True)
    full_name = models.CharField(max_length=200, blank=True)
    phone = models.CharField(max_length=32, blank=True)
    is_active = models.BooleanField(default=True)
    is_staff = models.BooleanField(default=False, help_text="May sign in to the admin site.")
    roles = models.ManyToManyField(Role, related_name="users", blank=True)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    updated_at = models.DateTimeField(auto_now=True)

    objects = UserManager()

    USERNAME_FIELD = "username"
    EMAIL_FIELD = "email"
    REQUIRED_FIELDS = ["email"]

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return self.username

    @property
    def role_codes(self) -> list[str]:
        if not self.pk:
            return []
        cached = getattr(self, "_role_codes", None)
        if cached is None:
            cached = sorted(r.code for r in self.roles.all())
            self._role_codes = cached
        return cached

    @property
    def role_level(self) -> int:
        """The highest rights the user holds: 0 none, 1 viewer, 2 operator, 3 admin."""
        if not self.is_active:
            return 0
        if self.is_superuser:
            return ROLE_LEVELS[RoleCode.ADMIN]
        return max((ROLE_LEVELS.get(code, 0) for code in self.role_codes), default=0)

    def has_role(self, code: str) -> bool:
        return self.role_level >= ROLE_LEVELS[RoleCode(code)]

    def forget_roles(self) -> None:
        self.__dict__.pop("_role_codes", None)
