"""Staff UI for users and roles."""
from django.contrib import admin, messages
from django.contrib.auth.admin import UserAdmin as BaseUserAdmin
from django.contrib.auth.forms import UserChangeForm, UserCreationForm
from django.db.models import Count

from . import services
from .choices import RoleCode
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

    def delete_model(self, request, obj):
        services.delete_user(obj, acting_user=request.user)

    def delete_queryset(self, request, queryset):
        for user in queryset.exclude(pk=request.user.pk):
            services.delete_user(user, acting_user=request.user)

    def has_delete_permission(self, request, obj=None):
        # Nobody deletes their own account from here (the API refuses it too).
        return super().has_delete_permission(request, obj) and (obj is None or obj.pk != request.user.pk)


@admin.register(Role)
class RoleAdmin(admin.ModelAdmin):
    list_display = ("code", "name", "holders", "created_at")
    search_fields = ("code", "name")

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(holder_count=Count("users"))

    @admin.display(description="Users", ordering="holder_count")
    def holders(self, obj):
        return obj.holder_count

    def get_readonly_fields(self, request, obj=None):
        # Permissions are keyed by the built-in codes: renaming one would strip everyone's rights.
        return ("code", "created_at") if obj is not None and obj.code in RoleCode.values else ("created_at",)

    def has_delete_permission(self, request, obj=None):
        # Built-in roles and roles users still hold cannot be deleted (the API answers 409).
        if obj is not None and (obj.code in RoleCode.values or obj.users.exists()):
            return False
        return super().has_delete_permission(request, obj)

    def save_model(self, request, obj, form, change):
        super().save_model(request, obj, form, change)
        invalidate_roles_cache()

    def delete_model(self, request, obj):
        services.delete_role(obj)

    def delete_queryset(self, request, queryset):
        refused = []
        for role in queryset:
            try:
                services.delete_role(role)
            except services.RoleInUse:
                refused.append(role.code)
        if refused:
            self.message_user(request, f"Not deleted (built in or still held): {', '.join(refused)}",
                              level=messages.WARNING)
