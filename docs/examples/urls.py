"""The quick start's URLconf lines, shown by README.md and docs/quickstart.rst; a test pastes
them into a fresh ``startproject``'s ``urls.py``. The line above the markers stands for what
``startproject`` already wrote."""

urlpatterns: list = []

# docs: start
from django.conf import settings
from django.conf.urls.static import static

# The uploaded pictures and the clips, while DEBUG is on (your web server serves MEDIA_URL in
# production; static() adds nothing when DEBUG is off).
urlpatterns += static(settings.MEDIA_URL, document_root=settings.MEDIA_ROOT)
# docs: end
