"""The demo's Wagtail content: two images drawn like the shop's products and a home page whose
StreamField shows the featured clip of each (``demo_setup`` calls ``setup()``)."""

from __future__ import annotations

from django.core.files.images import ImageFile
from wagtail.images import get_image_model
from wagtail.models import Page, Site

from .models import HomePage

TITLE = "Kling demo"


def demo_images() -> list:
    import io

    from shop.management.commands.demo_setup import PRODUCTS, draw_product

    image_model = get_image_model()
    images = []
    for name, _description, colors, kind in PRODUCTS[:2]:
        image = image_model.objects.filter(title=name).first()
        if image is None:
            image = image_model(title=name)
            image.file = ImageFile(io.BytesIO(draw_product(kind, colors)), name=f"{kind}.jpg")
            image.save()
        images.append(image)
    return images


def setup() -> HomePage:
    """The home page (made once), at the root of the default site."""
    images = demo_images()
    home = HomePage.objects.filter(title=TITLE).first()
    if home is not None:
        return home
    root = Page.get_first_root_node()
    home = root.add_child(instance=HomePage(title=TITLE, slug="kling-demo", body=[
        ("heading", "Our products, moving"),
        ("paragraph", "<p>Each clip below is the one the editors featured for the image "
                      "(Videos → Feature in Wagtail's admin).</p>"),
        *(("featured_video", {"image": image, "playback": "loop", "caption": image.title})
          for image in images),
    ]))
    site = Site.objects.filter(is_default_site=True).first()
    if site is None:
        Site.objects.create(hostname="localhost", root_page=home, is_default_site=True)
    else:
        site.root_page = home
        site.save()
    return home
