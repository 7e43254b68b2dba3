"""The test shop's admin: Product with the mixin (the default site), and the same model with
only the action factory on a second site, to check that both ways work."""

from django.contrib import admin

from django_kling.admin import KlingVideoAdminMixin, generate_video_action

from .models import Product


@admin.register(Product)
class ProductAdmin(KlingVideoAdminMixin, admin.ModelAdmin):
    list_display = ["name"]
    kling_image_field = "image"
    kling_prompt_field = "description"


class FactoryProductAdmin(admin.ModelAdmin):
    list_display = ["name"]
    actions = [generate_video_action(image_field="image", prompt_field="description")]


factory_site = admin.AdminSite(name="factory_admin")
factory_site.register(Product, FactoryProductAdmin)
