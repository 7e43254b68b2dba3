"""Check and prepare input images before anything is sent to the (paid) provider.

The model's rules (its limits are listed in the manual's providers page, ``docs/providers.rst``)
are enforced here, once, for the admin, the forms, the management commands and the Python API
alike (the generation options are checked by ``django_kling.options``):

input images are JPEG or PNG, at most 10 MB, each side at least 300 px, aspect ratio between
1:2.5 and 2.5:1.

What can be fixed without the editor is fixed, and every fix is recorded as a short,
translated note in :attr:`PreparedImage.fixes` (the job stores them as warnings); what cannot
be fixed raises :class:`~django_kling.exceptions.InvalidInput` with a stable ``code``, the
``field`` it belongs to, a translated message naming the problem with its numbers, and those
numbers in ``params``.

Image rules, in the order they are applied by :func:`prepare_image`:

1. The content decides the format, never the file name. Only raster formats are decoded, with
   a fixed list of Pillow decoders (:data:`ACCEPTED_FORMATS`: JPEG, PNG, WebP, GIF, BMP, TIFF,
   AVIF); SVG, PDF, PostScript, HEIC, Photoshop and videos are refused as ``image_format``,
   anything else Pillow cannot identify or fully decode as ``image_unreadable``. Decoding is
   strict: ``ImageFile.LOAD_TRUNCATED_IMAGES`` is forced off while we decode and Pillow's
   ``DecompressionBombWarning`` is an error.
2. The size in the header is checked before any pixel is decoded: more than
   :data:`MAX_PIXELS` (50 megapixels) is refused as ``image_too_large_pixels``.
3. Animated GIF, WebP, APNG and AVIF images (more than one frame) are refused as
   ``image_animated``, and multi-page TIFFs as ``image_multipage``: the frame the editor sees
   as a thumbnail is not necessarily the one they meant, and guessing would spend money on the
   wrong picture. Frames and pages are never counted (a small file can hold 100,000 of them):
   one look at the header, or one seek to the second frame, decides. A camera's multi-picture
   JPEG (MPO) is its main picture.
4. The pixels are fully decoded (``load()``), the EXIF orientation is applied and the EXIF
   block is dropped (every re-encoded file carries no metadata except an RGB colour profile).
5. Each side must be at least :data:`MIN_SIDE` pixels (``image_too_small``) and the picture
   must lie between 1:2.5 and 2.5:1 (``image_aspect``). With a chosen aspect ratio the picture
   is then center-cropped to exactly that ratio (the provider's output follows the shape of
   the input image, so this is how the chosen ratio is honoured) and the crop must still have
   both sides of at least :data:`MIN_SIDE` pixels. The 1:2.5..2.5:1 rule is the model's and
   holds for the uploaded picture whatever ratio is chosen: a 3:1 panorama is refused rather
   than silently losing half of its width.
6. Colours become 8-bit RGB, or RGBA when the image really is transparent: CMYK (through its
   colour profile when it has one), 16-bit, palette, grayscale, LA... are converted.
7. A longest side over :data:`MAX_SIDE` (3840 px) is shrunk, keeping the aspect ratio.
8. The output format is **PNG when the image has transparency or comes from a lossless format**
   (PNG, GIF, BMP, uncompressed/LZW/ZIP TIFF, lossless WebP), **JPEG otherwise** (JPEG, lossy
   WebP, AVIF, JPEG-compressed TIFF), at quality :data:`JPEG_QUALITY`. If the result is over
   :data:`MAX_BYTES` it is re-encoded as JPEG (transparency flattened onto white) at decreasing
   qualities until it fits; only if even the lowest quality does not fit is the image refused
   (``image_too_big_bytes``).

A JPEG or PNG that needs none of these fixes (8-bit RGB/RGBA, upright, small enough, already
at the chosen ratio) is not re-encoded, so its quality is never degraded: its compressed data
is copied as is, keeping only what is needed to show it (JFIF, colour profile, Adobe colour
marker / PNG colour chunks) and dropping metadata (EXIF, XMP, IPTC, comments, text chunks),
the extra pictures of an MPO and anything after the end of the image.

The package: ``prepare`` (the chain of steps), ``decode`` (safe decoding), ``parsers``
(byte-level JPEG/PNG parsing), ``colour``, ``encode``, ``limits`` (the limits and their
messages).
"""

from .decode import ACCEPTED_FORMATS, ImageSource
from .encode import PreparedImage
from .limits import MAX_BYTES, MAX_PIXELS, MAX_SIDE, MAX_SOURCE_BYTES, MIN_SIDE
from .prepare import prepare_image

__all__ = [
    "ACCEPTED_FORMATS",
    "MAX_BYTES",
    "MAX_PIXELS",
    "MAX_SIDE",
    "MAX_SOURCE_BYTES",
    "MIN_SIDE",
    "ImageSource",
    "PreparedImage",
    "prepare_image",
]
