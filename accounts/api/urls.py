"""Accounts API routes."""
from django.urls import re_path
from rest_framework.routers import DefaultRouter

from . import views

app_name = "accounts"

router = DefaultRouter(trailing_slash="/?")
router.include_root_view = False
router.register("roles", views.RoleViewSet, basename="role")
router.register("users", views.UserViewSet, basename="user")

urlpatterns = [
    re_path(r"^auth/login/?$", views.LoginView.as_view(), name="login"),
    re_path(r"^auth/register/?$", views.RegisterView.as_view(), name="register"),
    re_path(r"^auth/refresh/?$", views.RefreshView.as_view(), name="refresh"),
    re_path(r"^auth/logout/?$", views.LogoutView.as_view(), name="logout"),
    re_path(r"^users/info/?$", views.ProfileView.as_view(), name="profile"),
    *router.urls,
]
