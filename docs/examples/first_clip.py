"""The quick start's first clip from Python, shown by docs/quickstart.rst.

tests/test_docs.py runs this file against the sandbox with a real worker (with ``shop.models``
standing for the test shop's models), so the snippet really makes a clip.
"""
# docs: start
from shop.models import Product  # your model with an ImageField

from django_kling.jobs import create_video_request

product = Product.objects.get(name="Sea salt")
job = create_video_request(
    source=product,
    field_name="image",  # the ImageField the clip starts from
    prompt="The jar turns slowly; waves roll in behind it and gulls call.",
    duration=5,  # or 10; aspect_ratio, mode and sound default to DJANGO_KLING["DEFAULTS"]
)
print(job.status)  # "queued": a worker takes it from here
