"""What an error code means for an editor, in plain words, and what to do about it.

The stored ``error_message`` is the precise, technical reason (often the provider's own words);
these sentences sit next to it on the request's page. Codes without their own entry fall back
to the explanation of their family (``provider_*``, ``download_*``, ``media_*``).
"""

from __future__ import annotations

from django.utils.translation import gettext_lazy as _

EXPLANATIONS = {
    "deadline": _(
        "The provider did not finish the clip in the time allowed. This is usually a busy "
        "provider; retrying later normally works."),
    "generation_failed": _(
        "The provider tried to make the clip and could not. Retrying with a simpler prompt or "
        "another picture often helps."),
    "provider_cancelled": _(
        "The provider cancelled the job on its side. Retry it if you still want the clip."),
    "stream_interrupted": _(
        "The connection to the provider broke while the clip was being made. It was not retried "
        "automatically because it may already have been paid for; retry it by hand."),
    "result_expired": _(
        "The provider made the clip, but kept it only for a limited time and it has expired "
        "before the site could fetch it. Retry to make it again."),
    "result_lost": _(
        "The clip was made but the provider no longer has it. Retry to make it again."),
    "budget_exceeded": _(
        "The spending limit set for this site was reached. Ask an administrator to raise it "
        "or wait for the next period."),
    "provider_auth": _(
        "The provider refused the site's API key. An administrator needs to check the "
        "DJANGO_KLING settings."),
    "provider_forbidden": _(
        "The provider refused this request for this account. An administrator needs to check "
        "the account."),
    "provider_rate_limited": _(
        "The provider received too many requests at once. Retry in a few minutes."),
    "provider_invalid_request": _(
        "The provider refused the inputs. Check the prompt and the pictures, then retry."),
    "provider_model_not_found": _(
        "The provider does not know the configured model. An administrator needs to check "
        "the settings."),
    "provider_quota": _(
        "The provider account has no credit left. An administrator needs to top it up, or "
        "list a second provider in the settings."),
    "provider_content_refused": _(
        "The provider refused the prompt or a picture under its content rules. Change them, "
        "then retry."),
    "provider_unsupported_feature": _(
        "The chosen provider cannot do what this request asks for (a last frame or sound). "
        "Choose another provider, or drop that option."),
    "provider_task_taken": _(
        "The provider named a task that another request already holds, so it was not taken "
        "over (it would have shown another clip). Retry the request; report it if it recurs."),
    "provider_prompt_required": _(
        "This provider needs a prompt and the request had none; nothing was sent or paid. "
        "Write a prompt and retry, or choose another provider."),
    "media_check_failed": _(
        "The provider made the clip and it was saved, but the site's video library could not "
        "check it (often an incompatible version of PyAV). The file is kept on this request: "
        "download it to look at it, and ask an administrator to check the worker's logs."),
    "storage_failed": _(
        "The clip could not be saved in the site's storage. An administrator needs to check "
        "the storage; retry afterwards."),
}

FAMILIES = {
    "provider_": _(
        "The provider could not be reached or answered with an error. Retrying later usually "
        "works; if it keeps failing, an administrator should look at the logs."),
    "download_": _(
        "The finished clip could not be downloaded from the provider. Retry to make it "
        "again."),
    "media_": _(
        "The file the provider sent back is not a complete, playable clip. Retry to make it "
        "again."),
    "image_": _(
        "One of the pictures breaks the model's rules. Choose another picture."),
}


def explain(code: str) -> str:
    """A plain explanation of ``code`` ("" for an empty code)."""
    if not code:
        return ""
    if code in EXPLANATIONS:
        return str(EXPLANATIONS[code])
    for prefix, text in FAMILIES.items():
        if code.startswith(prefix):
            return str(text)
    return str(_("Something went wrong while making the clip. Retrying usually works; if it "
                 "does not, an administrator should look at the logs."))
