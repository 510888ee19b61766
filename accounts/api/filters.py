"""Filters for the users list."""
import django_filters

from accounts.models import User


class UserFilter(django_filters.FilterSet):
    username = django_filters.CharFilter(lookup_expr="icontains")
    email = django_filters.CharFilter(lookup_expr="icontains")
    role = django_filters.CharFilter(field_name="roles__code", distinct=True)

    class Meta:
        model = User
        fields = ["username", "email", "role", "is_active"]
