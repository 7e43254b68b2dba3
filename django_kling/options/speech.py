"""Spoken lines: how a line an editor wrote is put into the prompt Kling v2.6 reads.

Kling v2.6 makes speech from the prompt itself. The AI SDK's Kling provider
(``content/providers/01-ai-sdk-providers/85-klingai.mdx`` and
``packages/klingai/src/klingai-video-model-options.ts`` in vercel/ai) has only ``sound``
(``"on"``, pro mode) for v2.6: no dialogue or language field; voice references
(``<<<voice_1>>>`` in the prompt, ``voiceList``) exist from v3.0 only. fal's API page for
``fal-ai/kling-video/v2.6/pro/image-to-video`` writes dialogue as quoted speech attributed to a
speaker (its example: ``A king walks slowly and says "My people, here I am! ..."``) and says
audio "supports Chinese and English voice output" (other languages are translated to English).

So we append one sentence in that shape after the editor's scene description:
``<speaker> says in <Chinese|English>: "<line>"``. Naming the language is our addition (no
source prescribes it): it states the editor's intent, so a Chinese line in an English prompt
is spoken, not translated. Double quotes inside the line become single ones, so the quotation
ends where the line ends. The composed text is what is sent and billed, so it is checked
against the 2,500-character limit here, before anything is stored or paid for.
"""


from __future__ import annotations

import re
from dataclasses import dataclass

from django.utils.translation import gettext as _

from ..exceptions import InvalidInput
from . import MAX_PROMPT_LENGTH, Language, validate_prompt

#: The language named in the prompt: English words, because the rest of the prompt is the
#: editor's scene description and the model's guides name languages in English.
LANGUAGE_NAMES = {Language.ENGLISH: "English", Language.CHINESE: "Chinese"}
DEFAULT_SPEAKER = "The presenter"
#: How the prompt names the first chosen voice (sdk-options ``voiceList``; kling-api).
VOICE_REFERENCE = "<<<voice_1>>>"


def quoted(line: str) -> str:
    """The line between double quotes; quotes inside it become single ones, so the quotation
    the model sees always ends where the line ends."""
    return '"' + line.replace('"', "'").replace("“", "'").replace("”", "'") + '"'


def compose_prompt(prompt: str, *, spoken_line: str = "", language: str = "",
                   speaker: str = "", voice: bool = False) -> str:
    """The prompt with the spoken line appended the way Kling v2.6 expects dialogue; with a
    chosen ``voice``, the speaker is followed by ``<<<voice_1>>>``, the reference Kling's
    ``voice_list`` documents (``The man <<<voice_1>>> said, "..."``; the gateway passes
    ``voiceList`` on, and fal's ``voice_ids`` take the same reference).

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
    if voice:
        who += f" {VOICE_REFERENCE}"
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


#: The sentence ``compose_prompt`` appends, read back from a stored prompt (captions need the
#: words and the speaker; the request keeps only the composed prompt, which is what was sent).
_COMPOSED = re.compile(r'(?P<speaker>[^"]*?) says in (?P<language>English|Chinese): '
                       r'"(?P<line>[^"]*)"\s*$')


@dataclass(frozen=True)
class SpokenLine:
    speaker: str
    language: str  # a ``Language`` value: "en" or "zh"
    line: str


def spoken_line_of(prompt: str) -> SpokenLine | None:
    """The spoken line ``compose_prompt`` put at the end of ``prompt``, or None.

    The speaker is the text between the scene description's last sentence mark and "says"
    (the scene normally ends with a full stop; without one, the speaker's name may take the
    scene's last words with it).
    """
    match = _COMPOSED.search(prompt or "")
    if match is None or not match["line"].strip():
        return None
    speaker = re.split(r"[.!?;:。！？]\s*", match["speaker"])[-1].strip()
    codes = {name: code for code, name in LANGUAGE_NAMES.items()}
    return SpokenLine(speaker, str(codes[match["language"]]), match["line"].strip())
