"""The quick start's admin, shown by docs/quickstart.rst and checked by tests/test_docs.py."""
# docs: start
from django.contrib import admin
from shop.models import Product

from django_kling.admin import KlingVideoAdminMixin


@admin.register(Product)
class ProductAdmin(KlingVideoAdminMixin, admin.ModelAdmin):
    kling_image_field = "image"  # the ImageField clips start from
    kling_prompt_field = "description"  # optional: prefills each prompt
