"""Check what the built sdist and wheel carry (run by the ``package`` nox session).

Usage: ``python ci/check_dist.py DIST_FOLDER``. Exits non-zero, naming each problem.
"""

from __future__ import annotations

import sys
import tarfile
import zipfile
from pathlib import Path

SDIST_MUST = ["LICENSE", "README.md", "PKG-INFO", "docs/changelog.rst", "docs/index.rst",
              "tests/conftest.py", "tests/settings.py", "django_kling/py.typed",
              "example_project/manage.py", "noxfile.py", "ci/constraints-oldest.txt"]
# example_project/var holds the demo's development signing key (made on its first run).
SDIST_MUST_NOT = ["bench/", "docs/_build/", ".ci/", "example_project/var/"]
WHEEL_MUST = ["django_kling/py.typed", "django_kling/migrations/0001_initial.py",
              "django_kling/locale/zh_Hans/LC_MESSAGES/django.mo",
              "django_kling/templates/django_kling/video.html",
              "django_kling/static/django_kling/admin/kling.css"]
WHEEL_MUST_NOT = ["tests/", "bench/", "docs/", "example_project/"]


def problems(dist: Path) -> list[str]:
    found: list[str] = []
    [sdist] = dist.glob("*.tar.gz")
    [wheel] = dist.glob("*.whl")
    with tarfile.open(sdist) as tar:
        names = [name.split("/", 1)[1] for name in tar.getnames() if "/" in name]
    found += [f"sdist lacks {n}" for n in SDIST_MUST if n not in names]
    found += [f"sdist carries {n}" for n in SDIST_MUST_NOT
              if any(name.startswith(n) for name in names)]
    with zipfile.ZipFile(wheel) as whl:
        names = whl.namelist()
        metadata = next(whl.read(n).decode() for n in names if n.endswith(".dist-info/METADATA"))
    found += [f"wheel lacks {n}" for n in WHEEL_MUST if n not in names]
    found += [f"wheel carries {n}" for n in WHEEL_MUST_NOT
              if any(name.startswith(n) for name in names)]
    if not any(n.endswith("licenses/LICENSE") for n in names):
        found.append("wheel lacks the licence file")
    for line in ("Classifier: Framework :: Django :: 6.1", "Project-URL: Documentation",
                 "Classifier: Programming Language :: Python :: 3.13", "License-Expression: MIT"):
        if line not in metadata:
            found.append(f"wheel metadata lacks {line!r}")
    return found


if __name__ == "__main__":
    issues = problems(Path(sys.argv[1]))
    for issue in issues:
        print(issue, file=sys.stderr)
    print(f"dist contents: {'FAILED' if issues else 'ok'}")
    sys.exit(1 if issues else 0)
