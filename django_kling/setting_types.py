"""The pieces settings are declared with: ``Setting`` (a name, its default, what it does) and
``Secret`` (an option value that never shows itself). ``conf`` holds the settings themselves."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


class Secret(str):
    """A secret option (an API key): a ``str`` everywhere, except that ``repr()`` hides it.

    Django's DEBUG error page shows every local variable of every frame with ``repr()``, and
    ``sensitive_variables`` does not apply there; options dicts holding a ``Secret`` can sit in
    any local without the key ever being shown.
    """

    __slots__ = ()

    def __repr__(self) -> str:
        return "'********'"


#: Provider options whose values are wrapped in ``Secret``.
SECRET_OPTIONS = frozenset({"API_KEY"})


@dataclass(frozen=True)
class Setting:
    name: str
    default: Any
    doc: str
