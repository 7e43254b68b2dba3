"""URLs a host project includes (``path("kling/", include("django_kling.urls"))``)."""


app_name = "django_kling"

urlpatterns: list = []
