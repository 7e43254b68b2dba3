"""Creates the demo's admin login, a few products whose images are drawn here, and the default
video presets."""

from __future__ import annotations

import io
import math
from typing import Any

from django.apps import apps
from django.contrib.auth import get_user_model
from django.core.files.base import ContentFile
from django.core.management.base import BaseCommand
from PIL import Image, ImageDraw

from django_kling.editorial.preset_defaults import install_default_presets
from shop.models import Product

PRODUCTS = [
    ("Sea Salt Bottle", "A glass bottle of sea salt. The bottle turns slowly; waves roll in the "
     "background and gulls call.", ((20, 90, 160), (240, 240, 230)), "bottle"),
    ("Ceramic Mug", "A steaming ceramic mug on a wooden table; steam rises, a spoon clinks.",
     ((120, 70, 40), (250, 230, 200)), "mug"),
    ("Trail Sneaker", "A trail running sneaker on a rock; leaves drift past, wind blows.",
     ((40, 120, 60), (230, 240, 210)), "shoe"),
]


def draw_product(kind: str, colors: tuple, size: tuple[int, int] = (1280, 720)) -> bytes:
    width, height = size
    dark, light = colors
    image = Image.new("RGB", size, light)
    draw = ImageDraw.Draw(image)
    for y in range(height):  # a soft vertical gradient as the backdrop
        t = y / height
        draw.line([(0, y), (width, y)], fill=tuple(int(light[i] * (1 - t) + dark[i] * t * 0.6)
                                                    for i in range(3)))
    cx, cy = width // 2, height // 2
    if kind == "bottle":
        draw.rounded_rectangle([cx - 70, cy - 200, cx + 70, cy + 230], 40, fill=dark)
        draw.rectangle([cx - 25, cy - 280, cx + 25, cy - 190], fill=dark)
        draw.rectangle([cx - 70, cy - 40, cx + 70, cy + 60], fill=light)
    elif kind == "mug":
        draw.rounded_rectangle([cx - 150, cy - 130, cx + 110, cy + 200], 30, fill=dark)
        draw.ellipse([cx + 70, cy - 60, cx + 200, cy + 110], outline=dark, width=28)
        for i in range(3):
            x = cx - 90 + i * 70
            draw.line([(x + 20 * math.sin(k / 8), cy - 160 - k) for k in range(0, 140, 4)],
                      fill=(255, 255, 255), width=6)
    else:
        draw.polygon([(cx - 260, cy + 120), (cx + 240, cy + 120), (cx + 250, cy + 40),
                      (cx + 40, cy - 20), (cx - 60, cy - 120), (cx - 240, cy - 60)], fill=dark)
        draw.rectangle([cx - 270, cy + 120, cx + 260, cy + 160], fill=(30, 30, 30))
    out = io.BytesIO()
    image.save(out, "JPEG", quality=90)
    return out.getvalue()


class Command(BaseCommand):
    help = "Create the demo admin user (admin / admin) and the demo products."

    def handle(self, *args: Any, **options: Any) -> None:
        user_model = get_user_model()
        if not user_model.objects.filter(username="admin").exists():
            user_model.objects.create_superuser("admin", "admin@example.com", "admin")
        for name, description, colors, kind in PRODUCTS:
            if Product.objects.filter(name=name).exists():
                continue
            product = Product(name=name, description=description, published=True)
            product.image.save(f"{kind}.jpg", ContentFile(draw_product(kind, colors)), save=False)
            product.save()
        presets = install_default_presets()
        self.stdout.write(f"{Product.objects.count()} products, {len(presets)} new video presets; "
                          "admin login: admin / admin")
        if apps.is_installed("cms"):  # KLING_WAGTAIL=1: the small Wagtail site too
            from cms.demo import setup

            home = setup()
            self.stdout.write(f"Wagtail home page: {home.url or '/'} (admin at /cms/)")
