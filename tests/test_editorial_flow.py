"""The editors' flow end to end on the example shop, as a user runs it (issue 14 acceptance):
install the presets, generate two variants of a spoken Chinese introduction against the
sandbox, and see the product page show neither clip until a reviewer approves one."""

from __future__ import annotations

import re

import pytest

from .example_shop import manage, shop_environment

PAGE = """
from django.test import Client
print(Client().get("/products/{pk}/", HTTP_HOST="127.0.0.1").content.decode())
"""
REQUESTS = """
from django_kling.models import VideoRequest
for job in VideoRequest.objects.order_by("created_at", "pk"):
    print("job", job.pk, job.status, job.video.sha256 if job.video else "-", job.language,
          job.variant_group,
          job.video.file.name if job.video else "-", job.review_status)
"""


def run(*args: str, env: dict[str, str]) -> str:
    result = manage(*args, env=env)
    assert result.returncode == 0, result.stderr
    return result.stdout


@pytest.fixture
def shop_env(tmp_path):
    return shop_environment(tmp_path, sandbox_delay=0.2)


def test_presets_variants_language_and_review_on_the_example_shop(shop_env):
    assert "Installed 0 preset(s)." in run("kling_presets", "--install-defaults", env=shop_env)
    assert "intro-zh" in run("kling_presets", env=shop_env)  # demo_setup installed them

    output = run("kling_generate", "shop.Product:1:image", "--preset", "intro-zh",
                 "--variants", "2", "--language", "zh", "--wait", env=shop_env)
    assert output.count("Succeeded:") == 2 and "audio yes" in output

    jobs = [line.split()[1:] for line in run("shell", "-c", REQUESTS, env=shop_env).splitlines()
            if line.startswith("job ")]
    assert len(jobs) == 2
    (first, status1, sha1, lang1, group1, video1, review1), \
        (second, status2, sha2, lang2, group2, video2, review2) = jobs
    assert (status1, status2, lang1, lang2) == ("succeeded", "succeeded", "zh", "zh")
    assert sha1 != sha2 and group1 == group2 != "None"  # two takes, not one clip billed twice
    assert (review1, review2) == ("pending", "pending")

    page = run("shell", "-c", PAGE.format(pk=1), env=shop_env)
    assert "<video" not in page
    assert video1.rsplit("/", 1)[-1] not in page and video2.rsplit("/", 1)[-1] not in page

    assert "Approved" in run("kling_review", second, "--approve", env=shop_env)
    page = run("shell", "-c", PAGE.format(pk=1), env=shop_env)
    assert page.count("<video") == 1
    assert video2.rsplit("/", 1)[-1] in page and video1.rsplit("/", 1)[-1] not in page
    assert re.search(r'"@type":\s*"VideoObject"', page)  # JSON-LD for the approved clip
