"""The few Label Studio calls the review makes, through ``label-studio-sdk`` (imported when first needed).

Each call's failure becomes a :class:`LabelStudioError` that names the server, the step and the HTTP
status with the server's detail, never the API key.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

from prefjudge.errors import ConfigError, PrefjudgeError
from prefjudge.secrets import redact, redact_url, register_secret

INSTALL = 'pip install "prefjudge[review]"'
URL_ENV = "LABEL_STUDIO_URL"
KEY_ENV = "LABEL_STUDIO_API_KEY"
T = TypeVar("T")


class LabelStudioError(PrefjudgeError):
    """A Label Studio call failed: the server said no (``status`` set) or could not be reached."""

    def __init__(self, message: str, *, status: int | None = None):
        self.status = status
        super().__init__(message)


def import_sdk() -> Any:
    """The ``label_studio_sdk`` package, or a ConfigError saying how to install it."""
    try:
        import label_studio_sdk
        from label_studio_sdk.client import LabelStudio  # noqa: F401 (the client this module uses)
    except ImportError as exc:
        raise ConfigError(f"pj.review needs the Label Studio SDK (label-studio-sdk), which is not installed: {INSTALL}") from exc
    return label_studio_sdk


def resolve(url: str | None, api_key: str | None) -> tuple[str, str]:
    """``url`` and ``api_key``, or the SDK's environment variables LABEL_STUDIO_URL / LABEL_STUDIO_API_KEY."""
    url = url or os.environ.get(URL_ENV)
    api_key = api_key or os.environ.get(KEY_ENV)
    if not url:
        raise ConfigError(f"where is Label Studio? pass url= (e.g. 'http://localhost:8080') or set {URL_ENV}")
    if not api_key:
        raise ConfigError(f"pass api_key= or set {KEY_ENV}: a Label Studio access token (Account & Settings; "
                          "a Personal Access Token, or a legacy token where the organization enables them)")
    register_secret(api_key)
    return url.rstrip("/"), api_key


class Client:
    """A Label Studio server reached with one API key."""

    def __init__(self, url: str | None, api_key: str | None, *, timeout: float = 60.0):
        self.url, key = resolve(url, api_key)
        import_sdk()
        import httpx
        from label_studio_sdk.client import LabelStudio

        self._http = httpx.Client(timeout=timeout, follow_redirects=True)
        try:
            with self._step("connect"):
                self._ls = LabelStudio(base_url=self.url, api_key=key, httpx_client=self._http)
        except BaseException:
            self._http.close()
            raise

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def _step(self, what: str) -> Iterator[None]:
        import httpx
        from label_studio_sdk.core.api_error import ApiError

        where = redact_url(self.url) if hasattr(self, "url") else "Label Studio"
        try:
            yield
        except httpx.HTTPError as exc:
            raise LabelStudioError(f"Label Studio at {where}: {what}: cannot reach the server ({type(exc).__name__}: "
                                   f"{redact(str(exc))})") from exc
        except ApiError as exc:
            status = exc.status_code
            body = getattr(exc, "body", None)
            detail: Any = body
            if isinstance(body, dict):
                detail = " ".join(str(body[k]) for k in ("detail", "validation_errors") if body.get(k)) or body
            hint = " (the API key was refused: a Personal Access Token, or a legacy token with legacy tokens enabled " \
                   "for the organization)" if status in (401, 403) else ""
            raise LabelStudioError(f"Label Studio at {where}: {what}: HTTP {status}: {redact(str(detail))}{hint}",
                                   status=status) from exc

    def call(self, what: str, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        with self._step(what):
            return fn(*args, **kwargs)

    def create_project(self, *, title: str, description: str, label_config: str, instructions: str | None,
                       annotators_per_task: int) -> int:
        extra: dict[str, Any] = {}
        if instructions:
            extra.update(expert_instruction=instructions, show_instruction=True)
        if annotators_per_task > 1:
            extra.update(maximum_annotations=annotators_per_task, overlap_cohort_percentage=100)
        project = self.call("create the project", self._ls.projects.create, title=title, description=description,
                            label_config=label_config, **extra)
        return int(project.id)

    def import_tasks(self, project_id: int, tasks: list[dict[str, Any]]) -> None:
        self.call(f"import {len(tasks)} tasks into project {project_id}", self._ls.projects.import_tasks,
                  id=project_id, request=tasks, return_task_ids=True)

    def delete_project(self, project_id: int) -> None:
        self.call(f"delete project {project_id}", self._ls.projects.delete, id=project_id)

    def tasks(self, project_id: int) -> list[Any]:
        """Every task of the project with its ``meta`` and annotations."""
        def fetch() -> list[Any]:
            return list(self._ls.tasks.list(project=project_id, fields="all", page_size=100))

        return self.call(f"list the tasks of project {project_id}", fetch)
