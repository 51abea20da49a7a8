"""The studio's web application (Starlette): pages, the JSON API, security.

Security (docs/studio.md): every request needs the access token (from the
printed URL's `?token=`, then a strict same-site cookie, or the
`X-Studio-Token` header), else 403 and nothing runs. Every state-changing
request is a POST carrying the page's CSRF token in `X-CSRF-Token` and an
`Origin` equal to the studio's own; the Host header must name the studio
(no DNS rebinding). Request bodies are size-limited before they are parsed.
"""

from __future__ import annotations

import hmac
import json
import re
import secrets
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, PlainTextResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from acm.errors import PolicyError
from xm_core.errors import UsageError, XmError
from xm_core.files.paths import HostPaths
from xm_core.web import graphview, services

HERE = Path(__file__).resolve().parent
TOKEN_COOKIE = "xm_studio_token"
UPLOAD_LIMIT = 8 * 1024 * 1024  # bytes of an uploaded policy or workload
BODY_LIMIT = 64 * 1024 * 1024  # bytes of any JSON request (a large policy's XML travels in it)


class StudioConfig:
    def __init__(
        self,
        paths: HostPaths,
        hosts: set[str] | None,
        token: str | None = None,
        upload_limit: int = UPLOAD_LIMIT,
        initial: str | None = None,
        port: int | None = None,
    ) -> None:
        self.paths = paths
        # "host:port" values the Host header may carry; None (--allow-remote):
        # any name of this host at the studio's port, the token still required
        self.hosts = hosts
        self.port = port
        self.token = token or secrets.token_urlsafe(32)
        self.csrf = secrets.token_urlsafe(32)
        self.upload_limit = upload_limit
        self.initial = initial  # a policy name or file to open first


def _forbidden(why: str) -> Response:
    return PlainTextResponse(f"403 Forbidden: {why}\n", status_code=403)


class Refused(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def _same(given: str | None, expected: str) -> bool:
    return given is not None and hmac.compare_digest(given.encode(), expected.encode())


class Guard:
    """ASGI middleware: the token, Host, Origin and CSRF checks (before any route)."""

    def __init__(self, app: Any, config: StudioConfig) -> None:
        self.app, self.config = app, config

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request = Request(scope)
        refusal = self.refusal(request)
        if refusal is not None:
            await _forbidden(refusal)(scope, receive, send)
            return
        set_cookie = request.query_params.get("token") is not None and not _same(
            request.cookies.get(TOKEN_COOKIE), self.config.token
        )

        async def send_with_cookie(message: Any) -> None:
            if set_cookie and message["type"] == "http.response.start":
                cookie = f"{TOKEN_COOKIE}={self.config.token}; Path=/; HttpOnly; SameSite=Strict"
                message["headers"] = [*message.get("headers", []), (b"set-cookie", cookie.encode())]
            await send(message)

        await self.app(scope, receive, send_with_cookie)

    def refusal(self, request: Request) -> str | None:
        config = self.config
        host = request.headers.get("host", "")
        if config.hosts is None:
            if not host.endswith(f":{config.port}"):
                return "unknown Host header"
        elif host not in config.hosts:
            return "unknown Host header"
        token = (
            request.query_params.get("token")
            or request.headers.get("x-studio-token")
            or request.cookies.get(TOKEN_COOKIE)
        )
        if not _same(token, config.token):
            return "a valid access token is required"
        if request.method in ("GET", "HEAD"):
            return None
        if request.method != "POST":
            return "only GET and POST"
        if request.headers.get("origin") != f"http://{host}":
            return "cross-origin request"
        if not _same(request.headers.get("x-csrf-token"), config.csrf):
            return "a valid CSRF token is required"
        return None


async def _body(request: Request, limit: int) -> bytes:
    """The request body, refused (413) past `limit` bytes before it is all read."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise Refused(413, f"the request is larger than {limit} bytes; refused")
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise Refused(413, f"the request is larger than {limit} bytes; refused")
        chunks.append(chunk)
    return b"".join(chunks)


_NOT_TEXT = re.compile("[\x00\ud800-\udfff]")


async def _json(request: Request) -> dict[str, Any]:
    try:
        doc = json.loads(await _body(request, BODY_LIMIT))
    except (ValueError, RecursionError):
        raise Refused(400, "the request is not a JSON object") from None
    if not isinstance(doc, dict):
        raise Refused(400, "the request is not a JSON object")
    _check_strings(doc)
    return doc


def _check_strings(doc: dict[str, Any]) -> None:
    """JSON may carry what is not text (`"\\ud800"`, a lone surrogate, which
    no file or response can encode) and NUL (which no name, path or XML can
    hold): refused here (400), before any handler sees them."""
    todo: list[Any] = [doc]
    while todo:
        value = todo.pop()
        if isinstance(value, dict):
            todo.extend(value.keys())
            todo.extend(value.values())
        elif isinstance(value, list):
            todo.extend(value)
        elif isinstance(value, str) and (not value.isascii() or "\0" in value):
            # (an ASCII text, the common case, needs one scan for NUL only)
            found = _NOT_TEXT.search(value)
            if found is None:
                continue
            what = "a NUL character" if found.group() == "\0" else "a lone surrogate"
            raise Refused(400, f"the request holds {what} (U+{ord(found.group()):04X}); refused")


def _text(doc: dict[str, Any], key: str) -> str:
    value = doc.get(key)
    if not isinstance(value, str):
        raise Refused(400, f"'{key}' must be a string")
    return value


def _labels(doc: dict[str, Any], key: str) -> list[str]:
    value = doc.get(key, [])
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise Refused(400, f"'{key}' must be a list of strings")
    return value


def _xml(doc: dict[str, Any]) -> bytes:
    """The policy text of a request: `xml`, or `xml_change` made to the text
    of the answer `since` (409 when the studio no longer holds that text:
    the page then sends the whole text)."""
    if "xml" in doc or "xml_change" not in doc:
        return _text(doc, "xml").encode()
    change, since = doc.get("xml_change"), doc.get("since")
    if not isinstance(change, dict) or not isinstance(since, str):
        raise Refused(400, "'xml_change' needs the answer it was made since")
    start, end, insert = change.get("from"), change.get("to"), change.get("insert")
    if (
        not (isinstance(start, int) and isinstance(end, int) and isinstance(insert, str))
        or isinstance(start, bool)
        or isinstance(end, bool)
    ):
        raise Refused(400, "'xml_change' must have numbers 'from' and 'to' and a string 'insert'")
    text = services.text_since(since, start, end, insert)
    if text is None:
        raise Refused(409, "the text this change was made to is no longer held: send it whole")
    return text


def _file_of(doc: dict[str, Any]) -> str:
    name = doc.get("name")
    return f"{name}-security_policy.xml" if isinstance(name, str) and name else "<studio policy>"


def _check(
    config: StudioConfig, doc: dict[str, Any], xml: bytes, full: bool = True
) -> dict[str, Any]:
    """The findings and outline of `xml`, saved as the request's policy name;
    only what changed when the request names the answer it holds (`since`).
    Unless `full`, an edit of that answer is checked only where it touched
    the policy (the answer then says `complete: false`)."""
    name = doc.get("name")
    place = services.place_of(config.paths, name) if isinstance(name, str) and name else None
    since = doc.get("since")
    return services.check_since(
        xml, _file_of(doc), place, since if isinstance(since, str) else None, full
    )


Handler = Callable[[Request], Awaitable[Response]]


def api(func: Callable[[Request, StudioConfig], Awaitable[Any]]) -> Callable[..., Handler]:
    """An API route: JSON in, JSON out; library failures become findings (422)."""

    def bind(config: StudioConfig) -> Handler:
        async def handler(request: Request) -> Response:
            started = time.perf_counter()
            try:
                result = await func(request, config)
            except Refused as exc:
                return JSONResponse({"error": str(exc)}, status_code=exc.status)
            except (PolicyError, XmError) as exc:
                status = 400 if isinstance(exc, UsageError) else 422
                return JSONResponse(
                    {"error": str(exc), "findings": services.error_findings(exc)},
                    status_code=status,
                )
            except OSError as exc:
                return JSONResponse({"error": str(exc)}, status_code=422)
            response = JSONResponse(result)
            response.headers["server-timing"] = (
                f"app;dur={(time.perf_counter() - started) * 1000:.1f}"
            )
            return response

        return handler

    return bind


# ------------------------------------------------------------------ API routes


def _policies(config: StudioConfig) -> dict[str, Any]:
    paths = config.paths
    return {
        "policies": services.list_policies(paths),
        "configs": services.list_configs(paths),
        "root": str(paths.root),
        "initial": config.initial,
    }


@api
async def api_policies(request: Request, config: StudioConfig) -> Any:
    return _policies(config)


@api
async def api_open(request: Request, config: StudioConfig) -> Any:
    doc = await _json(request)
    if doc.get("initial") is True and config.initial and Path(config.initial).is_file():
        # the FILE given on the command line (the user chose it there)
        xml = services.read_policy_file(config.initial)
        from acm.authoring.generate import default_policy_name

        name = default_policy_name(config.initial)
        return {
            "name": name,
            "xml": xml.decode("utf-8", "replace"),
            **services.check(xml, config.initial),
        }
    name = _text(doc, "name")
    if doc.get("draft") is True:
        xml = services.read_draft(config.paths, name)
    else:
        xml = services.read_policy(config.paths, name)
    answer = {
        "name": name,
        "xml": xml.decode("utf-8", "replace"),
        "draft": services.draft_info(config.paths, name),
        "from_draft": doc.get("draft") is True,
    }
    if doc.get("checked") is False:
        # the page is drawn first; it asks for the findings (/api/check) next,
        # by this answer's digest rather than with the text again
        place = services.place_of(config.paths, name)
        return {**answer, **services.pending(xml, _file_of(doc), place), "pending": True}
    return {**answer, **_check(config, doc, xml)}


@api
async def api_upload(request: Request, config: StudioConfig) -> Any:
    """A policy file, sent as the raw body (X-File-Name names it); parsed
    with the hardened parser like every policy."""
    data = await _body(request, config.upload_limit)
    filename = request.headers.get("x-file-name", "upload.xml")
    from acm.authoring.generate import default_policy_name

    name = default_policy_name(filename)
    return {"name": name, "xml": data.decode("utf-8", "replace"), **services.check(data, filename)}


@api
async def api_check(request: Request, config: StudioConfig) -> Any:
    doc = await _json(request)
    return _check(config, doc, _xml(doc), doc.get("full") is True)


@api
async def api_edit(request: Request, config: StudioConfig) -> Any:
    doc = await _json(request)
    op = doc.get("op")
    if not isinstance(op, dict):
        raise Refused(400, "'op' must be an object")
    given = _xml(doc).decode("utf-8")
    xml = services.edit(given.encode(), op, _file_of(doc))
    text = xml.decode("utf-8")
    change = services.text_change(given, text) if doc.get("since") else None
    sent = {"xml_change": change} if change is not None else {"xml": text}
    return {**sent, **_check(config, doc, xml, full=False)}


@api
async def api_graphs(request: Request, config: StudioConfig) -> Any:
    doc = await _json(request)
    return services.graphs(_text(doc, "xml").encode(), _file_of(doc))


@api
async def api_graph(request: Request, config: StudioConfig) -> Any:
    doc = await _json(request)
    focus = doc.get("focus")
    if focus is not None and not isinstance(focus, str):
        raise Refused(400, "'focus' must be a label's name")
    xml = _text(doc, "xml").encode()
    return graphview.graph_view(xml, _file_of(doc), _text(doc, "kind"), focus)


@api
async def api_flask(request: Request, config: StudioConfig) -> Any:
    doc = await _json(request)
    return services.flask_export(_text(doc, "xml").encode(), _file_of(doc))


@api
async def api_coexist(request: Request, config: StudioConfig) -> Any:
    doc = await _json(request)
    return services.coexist(_text(doc, "xml").encode(), _file_of(doc), _labels(doc, "labels"))


@api
async def api_flows(request: Request, config: StudioConfig) -> Any:
    doc = await _json(request)
    xml = _text(doc, "xml").encode()
    return services.flows(xml, _file_of(doc), _text(doc, "source"), _text(doc, "target"))


@api
async def api_explain(request: Request, config: StudioConfig) -> Any:
    doc = await _json(request)
    if doc.get("edited") is True:
        xml = _text(doc, "xml").encode()
        return services.explain(config.paths, _text(doc, "config"), xml, _file_of(doc))
    return services.explain(config.paths, _text(doc, "config"))


@api
async def api_diff(request: Request, config: StudioConfig) -> Any:
    doc = await _json(request)
    name = _text(doc, "name")
    return services.diff(config.paths, _text(doc, "xml").encode(), _file_of(doc), name)


@api
async def api_save(request: Request, config: StudioConfig) -> Any:
    doc = await _json(request)
    return services.save(config.paths, _text(doc, "name"), _text(doc, "xml").encode())


@api
async def api_draft(request: Request, config: StudioConfig) -> Any:
    doc = await _json(request)
    return services.save_draft(config.paths, _text(doc, "name"), _text(doc, "xml").encode())


@api
async def api_new(request: Request, config: StudioConfig) -> Any:
    doc = await _json(request)
    name = _text(doc, "name")
    made = services.new_policy(name, str(doc.get("date") or time.asctime()))
    xml = made["xml"].encode()
    return {"name": name, "xml": made["xml"], "draft": None, **_check(config, doc, xml)}


@api
async def api_impact(request: Request, config: StudioConfig) -> Any:
    doc = await _json(request)
    keep = doc.get("keep_ssidrefs") is True
    return services.impact_of_saved(config.paths, _text(doc, "name"), keep)


@api
async def api_update_preview(request: Request, config: StudioConfig) -> Any:
    doc = await _json(request)
    return services.update_preview(config.paths, _text(doc, "name"))


@api
async def api_load(request: Request, config: StudioConfig) -> Any:
    doc = await _json(request)
    if doc.get("confirm") is not True:
        raise Refused(400, "loading needs an explicit confirmation")
    keep = doc.get("keep_ssidrefs") is True
    return services.load(config.paths, _text(doc, "name"), _text(doc, "digest"), keep)


@api
async def api_workload_edit(request: Request, config: StudioConfig) -> Any:
    doc = await _json(request)
    op = doc.get("op")
    if not isinstance(op, dict):
        raise Refused(400, "'op' must be an object")
    return services.workload_edit(doc.get("workload"), op)


@api
async def api_workload_check(request: Request, config: StudioConfig) -> Any:
    doc = await _json(request)
    return services.workload_view(services.workload_of(doc.get("workload")))


@api
async def api_workload_upload(request: Request, config: StudioConfig) -> Any:
    data = await _body(request, config.upload_limit)
    return services.workload_upload(data, request.headers.get("x-file-name", "workload.json"))


@api
async def api_workload_text(request: Request, config: StudioConfig) -> Any:
    doc = await _json(request)
    filename = doc.get("filename", "workload.json")
    if not isinstance(filename, str) or "/" in filename or not filename:
        raise Refused(400, "'filename' must be a file name")
    return {"text": services.workload_text(doc.get("workload"), filename), "filename": filename}


@api
async def api_generate(request: Request, config: StudioConfig) -> Any:
    doc = await _json(request)
    date = doc.get("date") or time.asctime()
    return services.generate(doc.get("workload"), _text(doc, "name"), str(date))


API_ROUTES = {
    "policies": api_policies,
    "open": api_open,
    "upload": api_upload,
    "check": api_check,
    "edit": api_edit,
    "graphs": api_graphs,
    "graph": api_graph,
    "flask": api_flask,
    "coexist": api_coexist,
    "flows": api_flows,
    "explain": api_explain,
    "diff": api_diff,
    "save": api_save,
    "draft": api_draft,
    "new": api_new,
    "impact": api_impact,
    "load": api_load,
    "update-preview": api_update_preview,
    "workload/edit": api_workload_edit,
    "workload/check": api_workload_check,
    "workload/upload": api_workload_upload,
    "workload/text": api_workload_text,
    "generate": api_generate,
}


def create_app(config: StudioConfig) -> Any:
    """The studio as an ASGI application, guarded."""
    from jinja2 import Environment, FileSystemLoader, select_autoescape

    templates = Environment(
        loader=FileSystemLoader(str(HERE / "templates")), autoescape=select_autoescape()
    )

    from acm.lint.rules import RULES

    rules = [
        {
            "code": r.code,
            "name": r.name,
            "severity": r.severity.value,
            "summary": r.summary,
            "rationale": r.rationale,
        }
        for r in RULES.values()
    ]

    def page(name: str) -> Handler:
        async def handler(request: Request) -> Response:
            # what the editor asks first comes with the page (one round trip less)
            boot: dict[str, Any] = {}
            if name == "edit.html":
                try:
                    boot = _policies(config)
                except (PolicyError, XmError, OSError):  # the page then asks /api/policies
                    boot = {}
            html = templates.get_template(name).render(
                csrf=config.csrf, root=str(config.paths.root), rules=rules, boot=boot
            )
            response = HTMLResponse(html)
            response.headers["content-security-policy"] = (
                "default-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
                "frame-ancestors 'none'"
            )
            response.headers["referrer-policy"] = "no-referrer"
            response.headers["x-content-type-options"] = "nosniff"
            return response

        return handler

    routes: list[Any] = [
        Route("/", page("edit.html")),
        Route("/organizations", page("organizations.html")),
        Mount("/static", app=StaticFiles(directory=str(HERE / "static")), name="static"),
    ]
    routes += [
        Route(f"/api/{path}", handler(config), methods=["POST"])
        for path, handler in API_ROUTES.items()
    ]
    return Guard(Starlette(routes=routes), config)
