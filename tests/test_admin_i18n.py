"""The admin pages in Simplified Chinese (Accept-Language: zh-hans), and the catalogue itself."""

from __future__ import annotations

import gettext
import re
from pathlib import Path

from django.urls import reverse

import django_kling
from django_kling.flow.pipeline import fail
from django_kling.jobs import create_video_request

from .test_admin import (  # noqa: F401  (fixtures, by their pytest names)
    confirm_data,
    login,
    make_product_fixture,
    make_staff,
    producer_fixture,
)

ZH = {"HTTP_ACCEPT_LANGUAGE": "zh-hans"}
LOCALE = Path(django_kling.__file__).parent / "locale" / "zh_Hans" / "LC_MESSAGES"


def test_confirmation_page_in_chinese(producer, make_product):
    product = make_product()
    response = login(producer, **ZH).post(reverse("admin:shop_product_changelist"), {
        "action": "generate_video", "_selected_action": [product.pk]})
    html = response.content.decode()
    assert response["Content-Language"] == "zh-hans"
    for text in ("生成视频", "所有视频的选项", "时长", "画幅", "模式", "声音",
                 "反向提示词", "提示词", "尾帧", "预估费用：", "5 秒", "16:9 横屏",
                 "专业（1080p，有声，可设尾帧）", "将 1 段视频加入队列", "首页"):
        assert text in html, text
    assert "Generate video" not in html and "Options for every clip" not in html


def test_form_and_image_errors_in_chinese(producer, make_product):
    good, tiny = make_product("Good"), make_product("Tiny", width=200, height=150)
    client = login(producer, **ZH)
    url = reverse("admin:shop_product_changelist")
    response = client.post(url, confirm_data([good], mode="std", sound=True))
    assert "声音需要专业模式；请选择专业模式或关闭声音。" in response.content.decode()
    response = client.post(url, confirm_data([good, tiny]))
    html = response.content.decode()
    assert "图片为 200×150 像素；每条边至少需要 300 像素。" in html
    assert "已将 1 段视频加入队列。" in html
    assert "在“视频请求”中查看进度。" in html


def test_request_list_and_page_in_chinese(make_product):
    user = make_staff("viewer", "django_kling.view_videorequest", "shop.view_product")
    job = create_video_request(source=make_product(), field_name="image")
    fail(job, "deadline", "slow")
    client = login(user, **ZH)
    listing = client.get(reverse("admin:django_kling_videorequest_changelist")).content.decode()
    for text in ("视频请求", "状态", "来源", "首帧", "费用", "创建于", "失败", "来源类型",
                 "可灵视频"):
        assert text in listing, text
    page = client.get(reverse("admin:django_kling_videorequest_change",
                              args=[job.pk])).content.decode()
    assert "无法生成视频。" in page
    assert "服务商未能在规定时间内生成视频" in page  # the explanation of "deadline"


def test_catalogue_is_complete_and_compiled():
    po = (LOCALE / "django.po").read_text(encoding="utf-8")
    header = 'msgid ""\nmsgstr ""\n"'
    entries = [e for e in po.split("\n\n") if "\nmsgid " in f"\n{e}" and header not in e]
    assert len(entries) > 250
    assert "#, fuzzy" not in po
    empty = [e for e in entries if re.search(r'^msgstr(\[0\])? ""$(?!\n")', e, re.M)]
    assert not empty, empty[:3]
    with (LOCALE / "django.mo").open("rb") as fh:
        catalogue = gettext.GNUTranslations(fh)
    assert catalogue.gettext("Generate video") == "生成视频"
    assert catalogue.gettext("Sound needs the pro mode; choose pro or turn sound off.") != (
        "Sound needs the pro mode; choose pro or turn sound off.")
    # The .mo was compiled from this .po: every message in it is there.
    msgids = re.findall(r'^msgid "(.+)"$', po, re.M)
    # msgid_plural may be wrapped over several lines ("" then the pieces), as gettext writes it.
    plurals = {singular: "".join(re.findall(r'"(.*)"', pieces)) for singular, pieces in
               re.findall(r'^msgid "(.+)"\nmsgid_plural ((?:".*"\n)+)', po, re.M)}

    def translated(m: str) -> str:
        # Python 3.10's gettext() does not look up plural entries: ask with ngettext().
        return catalogue.ngettext(m, plurals[m], 1) if m in plurals else catalogue.gettext(m)

    untranslated = [m for m in msgids if "\\" not in m and translated(m) == m
                    and m not in ("SHA-256",)]
    assert not untranslated, untranslated[:5]
