from django.urls import include, path
from wagtail import urls as wagtail_urls
from wagtail.admin import urls as wagtailadmin_urls

from tests.urls import urlpatterns as base_urlpatterns

urlpatterns = [
    path("cms/", include(wagtailadmin_urls)),
    *base_urlpatterns,
    path("", include(wagtail_urls)),
]
