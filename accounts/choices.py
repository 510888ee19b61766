"""Role codes and their order: each role may do everything the roles below it may."""
from django.db import models


class RoleCode(models.TextChoices):
    VIEWER = "viewer", "Viewer"
    OPERATOR = "operator", "Operator"
    ADMIN = "admin", "Administrator"


ROLE_LEVELS = {RoleCode.VIEWER: 1, RoleCode.OPERATOR: 2, RoleCode.ADMIN: 3}
