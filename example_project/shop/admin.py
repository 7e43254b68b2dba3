from django.contrib import admin

from django_kling.admin import KlingVideoAdminMixin

from .models import Product


@admin.register(Product)
class ProductAdmin(KlingVideoAdminMixin, admin.ModelAdmin):
    list_display = ["name"]
    search_fields = ["name", "description"]
    kling_image_field = "image"
    kling_prompt_field = "description"
