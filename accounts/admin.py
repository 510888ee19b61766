"""Staff UI for users and roles."""
from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as BaseUserAdmin
from django.contrib.auth.forms import UserChangeForm, UserCreationForm
from django.db.models import Count

from .models import Role, User
from .services import invalidate_roles_cache


class UserRoleInline(admin.TabularInline):
    model = User.roles.through
    extra = 0
    verbose_name = "role"
    verbose_name_plural = "roles"


class AccountCreationForm(UserCreationForm):
    class Meta(UserCreationForm.Meta):
        model = User
        fields = ("username", "email")


class AccountChangeForm(UserChangeForm):
    class Meta(UserChangeForm.Meta):
        model = User
        fields = "__all__"


@admin.register(User)
class UserAdmin(BaseUserAdmin):
    form = AccountChangeForm
    add_form = AccountCreationForm
    inlines = [UserRoleInline]
    list_display = ("username", "email", "full_name", "role_list", "is_active", "is_superuser", "last_login")
    list_filter = ("is_active", "is_superuser", "is_staff", "roles")
    search_fields = ("username", "email", "full_name")
    ordering = ("username",)
    readonly_fields = ("created_at", "updated_at", "last_login")
    fieldsets = (
        (None, {"fields": ("username", "password")}),
        ("Profile", {"fields": ("full_name", "email", "phone")}),
        ("Rights", {"fields": ("is_active", "is_staff", "is_superuser")}),
        ("Dates", {"fields": ("last_login", "created_at", "updated_at")}),
    )
    add_fieldsets = ((None, {"classes": ("wide",), "fields": ("username", "email", "password1", "password2")}),)
    filter_horizontal = ()

    def get_queryset(self, request):
        return super().get_queryset(request).prefetch_related("roles")

    @admin.display(description="Roles")
    def role_list(self, obj):
        return ", ".join(r.code for r in obj.roles.all())

    def save_related(self, request, form, formsets, change):
        super().save_related(request, form, formsets, change)
        invalidate_roles_cache()


@admin.register(Role)
class RoleAdmin(admin.ModelAdmin):
    list_display = ("code", "name", "holders", "created_at")
    search_fields = ("code", "name")

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(holder_count=Count("users"))

    @admin.display(description="Users", ordering="holder_count")
    def holders(self, obj):
        return obj.holder_count

    def save_model(self, request, obj, form, change):
        super().save_model(request, obj, form, change)
        invalidate_roles_cache()

    def delete_model(self, request, obj):
        super().delete_model(request, obj)
        invalidate_roles_cache()
