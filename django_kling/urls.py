"""URLs a host project includes (``path("kling/", include("django_kling.urls"))``)."""

from django.urls import path

from . import webhooks

app_name = "django_kling"

urlpatterns = [
    path("webhooks/<uuid:pk>/<str:token>/", webhooks.webhook, name="webhook"),
]
