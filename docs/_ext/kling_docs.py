"""Sphinx directives that keep the manual in step with the code.

``.. setting:: NAME``
    Documents one key of ``DJANGO_KLING`` (``PROVIDERS["gateway"]["API_KEY"]`` for a provider
    option). The default and the one-line description come from ``django_kling.conf``
    (``SETTINGS`` / ``PROVIDER_OPTIONS``) and are inserted above the hand-written text; an
    unknown name is a warning. Cross-reference with ``:setting:`NAME```.

``.. settings-table::``
    A table of every setting with its default, generated from the same objects.

``.. errorcode:: CODE`` and ``.. check:: django_kling.E001``
    Document an error code or a system check id (``:errorcode:`...``` / ``:check:`...```).
    The places in the source that raise it are listed under the text; a code that the source
    does not contain is a warning (see ``kling_codes.py`` for how codes are found).

``.. sandbox-faults::``
    The table of faults the sandbox can inject, from ``django_kling.sandbox.faults.FAULTS``.

``.. model-fields:: django_kling.models.VideoRequest``
    A table of a model's fields (name, type, verbose name, choices), from its ``_meta``.

At the end of reading, every setting, provider option, error code and check id found in the
code must have been documented once, or the build warns (and ``sphinx-build -W`` fails).
"""

from __future__ import annotations

from typing import Any

import kling_codes
from docutils import nodes
from docutils.parsers.rst import Directive
from docutils.statemachine import StringList
from sphinx.domains.std import GenericObject
from sphinx.util import logging

logger = logging.getLogger(__name__)


# -- settings --------------------------------------------------------------------------------


def provider_option_name(provider: str, option: str) -> str:
    return f'PROVIDERS["{provider}"]["{option}"]'


def settings_by_name() -> dict[str, Any]:
    """Every documented name -> its ``conf.Setting``."""
    from django_kling.conf import PROVIDER_OPTIONS, SETTINGS

    found = {s.name: s for s in SETTINGS}
    for provider, options in PROVIDER_OPTIONS.items():
        for option in options:
            found[provider_option_name(provider, option.name)] = option
    return found


def show_default(default: Any) -> str:
    if callable(default):
        doc = (default.__doc__ or "").strip().splitlines()
        return doc[0] if doc else "computed when read"
    return repr(default)


def _literal_paragraph(label: str, text: str) -> nodes.paragraph:
    paragraph = nodes.paragraph()
    paragraph += nodes.strong(label, label)
    paragraph += nodes.Text(" ")
    paragraph += nodes.literal(text, text)
    return paragraph


class SettingDirective(GenericObject):
    indextemplate = "pair: %s; setting"

    def transform_content(self, content_node: Any) -> None:
        name = self.names[0] if self.names else ""
        setting = settings_by_name().get(name)
        if setting is None:
            logger.warning("setting %r is not in django_kling.conf (SETTINGS or "
                           "PROVIDER_OPTIONS)", name, location=self.get_location())
            return
        summary = nodes.paragraph()
        summary += nodes.emphasis(setting.doc, setting.doc)
        content_node.insert(0, summary)
        content_node.insert(0, _literal_paragraph("Default:", show_default(setting.default)))


class SettingsTable(Directive):
    has_content = False

    def run(self) -> list[nodes.Node]:
        lines = [".. list-table::", "   :header-rows: 1", "   :widths: 30 30 40", "",
                 "   * - Setting", "     - Default", "     - Meaning"]
        for name, setting in settings_by_name().items():
            default = show_default(setting.default).replace("`", "'")
            lines += [f"   * - :setting:`{name}`", f"     - ``{default}``",
                      f"     - {_escape(setting.doc)}"]
        container = nodes.container()
        self.state.nested_parse(StringList(lines, source="settings-table"),
                                self.content_offset, container)
        return container.children


def _escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("*", "\\*").replace("`", "\\`").replace("|", "\\|")


# -- error codes and checks ------------------------------------------------------------------


class _CodeDirective(GenericObject):
    kind = ""

    def known(self) -> dict[str, list[str]]:
        codes, checks = kling_codes.collect()
        return checks if self.kind == "check" else codes

    def transform_content(self, content_node: Any) -> None:
        name = self.names[0] if self.names else ""
        places = self.known().get(name)
        if places is None:
            logger.warning("%s %r does not occur in django_kling's source", self.kind, name,
                           location=self.get_location())
            return
        shown = ", ".join(places[:4]) + (" ..." if len(places) > 4 else "")
        paragraph = nodes.paragraph(classes=["kling-source"])
        paragraph += nodes.emphasis("Raised in: ", "Raised in: ")
        paragraph += nodes.literal(shown, shown)
        content_node.append(paragraph)


class ErrorCodeDirective(_CodeDirective):
    indextemplate = "pair: %s; error code"
    kind = "error code"


class CheckDirective(_CodeDirective):
    indextemplate = "pair: %s; system check"
    kind = "check"


# -- sandbox faults --------------------------------------------------------------------------


class SandboxFaults(Directive):
    has_content = False

    def run(self) -> list[nodes.Node]:
        from django_kling.sandbox.faults import FAULTS

        lines = [".. list-table::", "   :header-rows: 1", "   :widths: 18 22 25 35", "",
                 "   * - Fault", "     - Routes", "     - Parameters (defaults)",
                 "     - Effect"]
        for name, kind in FAULTS.items():
            params = ", ".join(f"{k}={v!r}" for k, v in kind.defaults.items()) or "(none)"
            lines += [f"   * - ``{name}``", f"     - {', '.join(kind.routes)}",
                      f"     - ``{params}``" if kind.defaults else "     - (none)",
                      f"     - {_escape(kind.effect)}"]
        container = nodes.container()
        self.state.nested_parse(StringList(lines, source="sandbox-faults"),
                                self.content_offset, container)
        return container.children


# -- model fields ----------------------------------------------------------------------------


def _field_type(field: Any) -> str:
    kind = type(field).__name__
    related = getattr(field, "related_model", None)
    if related is not None and getattr(field, "is_relation", False) and kind != "GenericForeignKey":
        return f"{kind} to ``{related._meta.object_name}``"
    return kind


def _field_notes(field: Any) -> str:
    notes = []
    choices = getattr(field, "choices", None)
    if choices:
        notes.append("one of " + ", ".join(f"``{value!s}``" for value, _label in choices))
    if getattr(field, "null", False):
        notes.append("may be empty")
    if getattr(field, "editable", True) is False and not getattr(field, "primary_key", False):
        notes.append("written by the app")
    return "; ".join(notes)


class ModelFields(Directive):
    """``.. model-fields:: django_kling.models.VideoRequest``: a table of the model's fields."""

    required_arguments = 1
    has_content = False

    def run(self) -> list[nodes.Node]:
        from django.utils.module_loading import import_string

        model = import_string(self.arguments[0])
        lines = [".. list-table::", "   :header-rows: 1", "   :widths: 22 28 50", "",
                 "   * - Field", "     - Type", "     - Meaning"]
        for field in model._meta.get_fields():
            if field.auto_created and not field.concrete:
                continue  # reverse relations
            label = str(getattr(field, "verbose_name", "") or "").strip()
            notes = _field_notes(field)
            meaning = (label[:1].upper() + label[1:]) if label else ""
            if field.__class__.__name__ == "GenericForeignKey":
                meaning = (f"The object (generic link through ``{field.ct_field}`` and "
                           f"``{field.fk_field}``)")
            meaning = _escape(meaning) + (f" ({notes})" if notes else "")
            lines += [f"   * - ``{field.name}``", f"     - {_field_type(field)}",
                      f"     - {meaning or '-'}"]
        container = nodes.container()
        self.state.nested_parse(StringList(lines, source="model-fields"),
                                self.content_offset, container)
        return container.children


# -- completeness ----------------------------------------------------------------------------


def check_completeness(app: Any, env: Any) -> None:
    documented: dict[str, set[str]] = {"setting": set(), "errorcode": set(), "check": set()}
    for (objtype, name) in env.get_domain("std").objects:
        if objtype in documented:
            documented[objtype].add(name)
    codes, checks = kling_codes.collect()
    wanted = {"setting": set(settings_by_name()), "errorcode": set(codes),
              "check": set(checks)}
    for objtype, names in wanted.items():
        for name in sorted(names - documented[objtype]):
            logger.warning("%s %r exists in the code but is not documented "
                           "(add `.. %s:: %s` to the manual)", objtype, name, objtype, name)


def setup(app: Any) -> dict[str, Any]:
    for objtype, directive in (("setting", SettingDirective),
                               ("errorcode", ErrorCodeDirective),
                               ("check", CheckDirective)):
        app.add_object_type(objtype, objtype, indextemplate=directive.indextemplate)
        app.add_directive_to_domain("std", objtype, directive, override=True)
    app.add_directive("settings-table", SettingsTable)
    app.add_directive("sandbox-faults", SandboxFaults)
    app.add_directive("model-fields", ModelFields)
    app.connect("env-check-consistency", check_completeness)
    return {"version": "1", "parallel_read_safe": True, "parallel_write_safe": True}
