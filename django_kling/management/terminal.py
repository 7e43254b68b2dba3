"""What the commands print, made safe for a terminal.

Prompts, source names, file names and provider errors come from editors and third parties; an
escape sequence among them could rewrite the operator's screen, set the window title or hide
lines. Every command of the app writes through ``PrintableOutput``, which drops control
characters (all but newline and tab) and bidirectional overrides from each message before the
command's own colours are applied.
"""

from __future__ import annotations

import re
from typing import Any

from django.core.management.base import BaseCommand, OutputWrapper

# C0 controls but tab and newline, DEL, C1 controls, and the bidi embeddings and isolates.
_UNPRINTABLE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


def printable(text: Any) -> str:
    """``text`` as a string without terminal control characters."""
    return _UNPRINTABLE.sub("", str(text))


class PrintableOutput(OutputWrapper):
    def write(self, msg: str = "", style_func: Any = None, ending: str | None = None) -> None:
        super().write(printable(msg), style_func, ending)


def _printable_output(wrapper: OutputWrapper) -> PrintableOutput:
    if isinstance(wrapper, PrintableOutput):
        return wrapper
    safe = PrintableOutput(wrapper._out, wrapper.ending)
    safe._style_func = wrapper._style_func
    return safe


class KlingCommand(BaseCommand):
    """A command whose ``stdout`` and ``stderr`` (error messages included) print safely.

    Django sets both in ``__init__`` and again in ``execute()``; the properties wrap whatever
    it sets. Pass colours as ``style_func`` (``write(text, self.style.SUCCESS)``): styling
    done beforehand would be stripped with the rest.
    """

    @property
    def stdout(self) -> PrintableOutput:
        return self._kling_stdout

    @stdout.setter
    def stdout(self, wrapper: OutputWrapper) -> None:
        self._kling_stdout = _printable_output(wrapper)

    @property
    def stderr(self) -> PrintableOutput:
        return self._kling_stderr

    @stderr.setter
    def stderr(self, wrapper: OutputWrapper) -> None:
        self._kling_stderr = _printable_output(wrapper)
