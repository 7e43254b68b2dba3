from django.contrib import admin
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _

from django_kling.admin import KlingVideoAdminMixin
from django_kling.site.clips import featured_clip, prefetch_clips

from .models import Product


@admin.register(Product)
class ProductAdmin(KlingVideoAdminMixin, admin.ModelAdmin):
    list_display = ["name", "picture", "video", "published"]
    search_fields = ["name", "description"]
    kling_image_field = "image"
    kling_prompt_field = "description"

    class Media:
        css = {"all": ["django_kling/admin/kling.css"]}

    def get_queryset(self, request):
        # Each row's clips in one query for the page, not one per row.
        return prefetch_clips(super().get_queryset(request))

    @admin.display(description=_("picture"))
    def picture(self, product: Product) -> str:
        if not product.image:
            return "—"
        return format_html('<img class="kling-thumb kling-thumb--small" src="{}" alt="" '
                           'loading="lazy">', product.image.url)

    @admin.display(description=_("video"))
    def video(self, product: Product) -> str:
        clip = featured_clip(product)  # the clip the shop's page shows (approved)
        if clip is None:
            return "—"
        return format_html('<video src="{}" poster="{}" width="160" preload="none" controls '
                           'muted playsinline></video>', clip.url, clip.poster_url)
