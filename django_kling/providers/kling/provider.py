"""The Kling API client: options, checks, auth (API key or JWT), create/query, callbacks."""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

import httpx
from django.core.checks import CheckMessage, Error
from django.utils.crypto import constant_time_compare
from django.utils.translation import gettext as _

from ...conf import SETTING_NAME, Setting
from ...exceptions import CallbackRefused, ProviderError
from ..base import GenerationInput, JobStatus, PollingProvider, Started
from ..gateway.wire import parse_retry_after
from ..transport import JsonTransport, as_dict
from .wire import create_body, error_for, jwt_token, own_task, parse_task, task_of

HOSTS = {
    "global": "https://api-singapore.klingai.com",
    "beijing": "https://api-beijing.klingai.com",
}
PATH = "/v1/videos/image2video"


def _env(name: str):
    def read() -> str | None:
        return os.environ.get(name) or None
    read.__name__ = f"env_{name}"
    return read


class KlingProvider(PollingProvider):
    name = "kling"
    FEATURES = frozenset({"webhooks", "idempotency"})
    RESULT_LIFETIME = "30 days"
    OPTIONS = (
        Setting("API_KEY", _env("KLING_API_KEY"),
                "Kling API key (Bearer). Default: env KLING_API_KEY."),
        Setting("ACCESS_KEY", _env("KLING_ACCESS_KEY"),
                "Access key for a signed JWT, used when API_KEY is not set. "
                "Default: env KLING_ACCESS_KEY."),
        Setting("SECRET_KEY", _env("KLING_SECRET_KEY"),
                "Secret key that signs the JWT. Default: env KLING_SECRET_KEY."),
        Setting("REGION", "global", '"global" (api-singapore) or "beijing" (api-beijing).'),
        Setting("BASE_URL", None, "Base URL; None: the host of REGION."),
        Setting("MODEL", None, "Kling model_name sent on create for every model; None: the "
                "capability registry's name for the request's model (kling-v2-6, kling-v3...)."),
        Setting("TIMEOUT", 30.0, "Seconds allowed for one create or query call."),
        Setting("TOKEN_TTL", 1800, "Lifetime of a JWT in seconds; renewed before it expires."),
    )

    def __init__(self, options: dict[str, Any], *, transport: httpx.BaseTransport | None = None):
        super().__init__(options)
        self.base_url = str(options.get("BASE_URL") or HOSTS.get(
            str(options.get("REGION")), HOSTS["global"])).rstrip("/")
        self.api_key = str(options.get("API_KEY") or "")
        self.access_key = str(options.get("ACCESS_KEY") or "")
        self.secret_key = str(options.get("SECRET_KEY") or "")
        self.token_ttl = int(options.get("TOKEN_TTL") or 1800)
        self._token: tuple[str, float] | None = None
        self._token_lock = threading.Lock()
        self.http = JsonTransport(self.name, "Kling", timeout=float(options.get("TIMEOUT", 30.0)),
                                  transport=transport,
                                  secrets=(self.api_key, self.secret_key))

    def provider_model(self, model: str) -> str:
        return str(self.options.get("MODEL") or super().provider_model(model))

    # -- public API ---------------------------------------------------------------------------

    def start(self, job: GenerationInput, *, idempotency_key: str,
              callback_url: str | None = None) -> Started:
        # A previous try may have created the task and died before its id was saved: ask for
        # it by our key first (one GET), so a retried create never pays twice whether Kling
        # refuses a repeated external_task_id or not.
        task = self._find(idempotency_key)
        if task is None:
            body = create_body(job, model=self.provider_model(job.model),
                               external_task_id=idempotency_key,
                               callback_url=callback_url)
            try:
                task = task_of(self._call("POST", PATH, body))
            except ProviderError as exc:
                # Kling may refuse a repeated external_task_id as an invalid request: the task
                # then exists, and is ours.
                if exc.code != "provider_invalid_request":
                    raise
                task = self._find(idempotency_key)
                if task is None:
                    raise
            if task is None:
                raise self.http.bad_response("the create answer has no data.task_id")
        operation = {"task_id": str(task["task_id"]), "external_task_id": idempotency_key}
        status = parse_task(task, provider=self.name)
        return Started(operation=operation, job_id=operation["task_id"],
                       generation_id=operation["task_id"],
                       # Kling signs nothing: the per-job URL token authenticates a callback,
                       # and our key ties its body to this job (see verify_callback).
                       signing_secret=idempotency_key if callback_url else None,
                       metadata=status.metadata)

    def status(self, operation: Any, *, model: str = "") -> JobStatus:
        task_id = as_dict(operation).get("task_id")
        if not isinstance(task_id, str) or not task_id:
            raise ProviderError("The job has no Kling task id.", code="provider_bad_response",
                                status=502, provider=self.name)
        task = task_of(self._call("GET", f"{PATH}/{quote(task_id, safe='')}"))
        if task is None or str(task["task_id"]) != task_id:
            # Another task's state (or clip) must never finish this job.
            raise self.http.bad_response("the query answer is not the task asked for")
        return parse_task(task, provider=self.name)

    def operation_id(self, operation: Any) -> str:
        return str(as_dict(operation).get("task_id") or operation)[:200]

    def close(self) -> None:
        self.http.close()

    # -- auth -----------------------------------------------------------------------------------

    def token(self) -> str:
        """The bearer token: the API key, or a JWT renewed well before it expires."""
        if self.api_key:
            return self.api_key
        if not (self.access_key and self.secret_key):
            raise ProviderError(
                _("No credentials are configured for Kling: set KLING_API_KEY, or "
                  "KLING_ACCESS_KEY and KLING_SECRET_KEY."),
                code="provider_no_credentials", provider=self.name)
        margin = min(300.0, self.token_ttl / 2)
        with self._token_lock:
            if self._token is None or self._token[1] - time.time() < margin:
                self._token = jwt_token(self.access_key, self.secret_key, ttl=self.token_ttl)
            return self._token[0]

    # -- transport -----------------------------------------------------------------------------

    def _call(self, method: str, path: str, body: Any = None) -> Any:
        headers = {"authorization": f"Bearer {self.token()}",
                   "content-type": "application/json"}
        data = self.http.call(method, self.base_url + path, headers=headers, body=body,
                              error_from=self._error_from)
        code = as_dict(data).get("code")
        if code not in (0, None):  # an error in a 200 answer
            raise error_for(200, data, provider=self.name, message_filter=self.http.safe)
        return data

    def _error_from(self, response: httpx.Response) -> ProviderError:
        try:
            payload = response.json()
        except (ValueError, UnicodeDecodeError):
            payload = None
        return error_for(response.status_code, payload, provider=self.name,
                         retry_after=parse_retry_after(response.headers),
                         message_filter=self.http.safe)

    def _find(self, external_task_id: str) -> dict[str, Any] | None:
        """The task created with our key, or None when Kling has none.

        Asked by path (``GET .../image2video/{external_task_id}``, the single query), never by
        the list (``GET .../image2video``), which is the account's tasks newest first whatever
        the query says: read as "ours", every job would adopt the newest task, another
        product's clip. Even the single answer is ours only if it names our key.

        A failed lookup keeps its ``fallback``: the pipeline moves a job on only after its
        first try with a provider, when no earlier create of ours can exist there.
        """
        try:
            answer = self._call("GET", f"{PATH}/{quote(external_task_id, safe='')}")
        except ProviderError as exc:
            if exc.code == "provider_not_found":
                return None
            raise
        return own_task(answer, external_task_id)

    # -- options and callbacks -----------------------------------------------------------------

    @classmethod
    def check(cls, options: dict[str, Any]) -> list[CheckMessage]:
        if options.get("REGION") in HOSTS:
            return []
        return [Error(f"Unknown Kling region {options.get('REGION')!r}.",
                      hint='Use "global" or "beijing" (or set BASE_URL).',
                      id="django_kling.E012")]

    @classmethod
    def check_deploy(cls, options: dict[str, Any]) -> list[CheckMessage]:
        if options.get("API_KEY") or (options.get("ACCESS_KEY") and options.get("SECRET_KEY")):
            return []
        return [Error(
            f"No API key for the {cls.name!r} provider: every job would fail when it is sent.",
            hint="Set KLING_API_KEY, or KLING_ACCESS_KEY and KLING_SECRET_KEY, or "
                 f"{SETTING_NAME}['PROVIDERS']['{cls.name}'][...].",
            id="django_kling.E003",
        )]

    @classmethod
    def verify_callback(cls, headers: Mapping[str, str], body: bytes, secret: str, *,
                        tolerance: float) -> str:
        """Kling documents no signature: the URL token (checked by the view) is the proof.

        The body must still be a task object, and when it names our ``external_task_id``
        (``task_info.external_task_id``, where Kling documents it), that must be this job's.
        The key is the task and its status: Kling calls at each change, each one nudges once.
        """
        try:
            task = json.loads(body)
        except (ValueError, UnicodeDecodeError):
            raise CallbackRefused(code="bad body") from None
        if isinstance(task, dict) and "task_id" not in task:
            task = task_of(task)  # wrapped like an API answer, {"code": 0, "data": {...}}
        if not isinstance(task, dict) or not isinstance(task.get("task_id"), str) \
                or not task["task_id"]:
            raise CallbackRefused(code="bad body")
        ours = as_dict(task.get("task_info")).get("external_task_id") \
            or task.get("external_task_id")
        if ours is not None and not constant_time_compare(str(ours), secret):
            raise CallbackRefused(code="bad signature")
        return f"kling:{task['task_id']}:{task.get('task_status')}"
