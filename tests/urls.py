from django.conf import settings
from django.contrib import admin
from django.urls import include, path, re_path
from django.views.static import serve

from tests.shop.admin import factory_site
from tests.shop.views import product_detail, product_list

urlpatterns = [
    path("admin/", admin.site.urls),
    path("factory-admin/", factory_site.urls),
    path("kling/", include("django_kling.urls")),
    path("products/", product_list, name="product_list"),
    path("products/<int:pk>/", product_detail, name="product_detail"),
    # Media for the browser tests (static() serves nothing when DEBUG is off, as in tests).
    re_path(r"^media/(?P<path>.*)$", serve, {"document_root": settings.MEDIA_ROOT}),
]
