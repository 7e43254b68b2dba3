"""Spoken lines: how a line an editor wrote is put into the prompt Kling v2.6 reads.

Kling v2.6 makes speech from the prompt itself (there is no separate text-to-speech field on
the image-to-video call: protocol.md, section 1, and the AI SDK's Kling provider options list
none). The public prompt guides of the hosts (Kling's own, fal's and Replicate's model pages)
write dialogue as *quoted speech attributed to a speaker*, with the language named when it is
not the prompt's own, e.g. ``The presenter says in Chinese: "你好"``. We compose exactly that
shape, after the editor's scene description, so the line is one clearly delimited quotation the
model cannot mistake for a scene instruction. The composed text is what is sent and billed, so
it is checked against the 2,500-character limit here, before anything is stored or paid for.
"""

from __future__ import annotations

from django.utils.translation import gettext as _

from .exceptions import InvalidInput
from .options import MAX_PROMPT_LENGTH, Language, validate_prompt

#: The language named in the prompt: English words, because the rest of the prompt is the
#: editor's scene description and the model's guides name languages in English.
LANGUAGE_NAMES = {Language.ENGLISH: "English", Language.CHINESE: "Chinese"}
DEFAULT_SPEAKER = "The presenter"


def quoted(line: str) -> str:
    """The line between double quotes; quotes inside it become single ones, so the quotation
    the model sees always ends where the line ends."""
    return '"' + line.replace('"', "'").replace("“", "'").replace("”", "'") + '"'


def compose_prompt(prompt: str, *, spoken_line: str = "", language: str = "",
                   speaker: str = "") -> str:
    """The prompt with the spoken line appended the way Kling v2.6 expects dialogue.

    Raises ``InvalidInput``: ``speech_needs_language`` (a line without a language),
    ``prompt_too_long`` (the composed prompt over 2,500 characters; the message gives both
    lengths so the editor knows how much to cut).
    """
    line = validate_prompt(spoken_line, field="spoken_line")
    if not line:
        return prompt
    if not language:
        raise InvalidInput(_("Choose the language of the spoken line (English or Chinese)."),
                           code="speech_needs_language", field="language")
    who = " ".join((speaker or DEFAULT_SPEAKER).split())
    sentence = f"{who} says in {LANGUAGE_NAMES[Language(language)]}: {quoted(line)}"
    composed = f"{prompt} {sentence}" if prompt else sentence
    if len(composed) > MAX_PROMPT_LENGTH:
        raise InvalidInput(
            _("The prompt with its spoken line has %(length)d characters; Kling accepts at "
              "most %(limit)d. Shorten the prompt or the line.")
            % {"length": len(composed), "limit": MAX_PROMPT_LENGTH},
            code="prompt_too_long", field="prompt",
            params={"length": len(composed), "limit": MAX_PROMPT_LENGTH})
    return composed
