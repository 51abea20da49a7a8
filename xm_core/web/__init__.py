"""The policy studio (`xm acm studio`): a local web application to generate,
edit, analyse, save and load policies. `run_studio` is its one entry point;
the pages call the library and host code through `services` (docs/studio.md)."""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable
from pathlib import Path

from xm_core.errors import UsageError, XmError
from xm_core.files.paths import HostPaths


def is_loopback(bind: str) -> bool:
    if bind == "localhost":
        return True
    try:
        return ipaddress.ip_address(bind).is_loopback
    except ValueError:
        return False


def free_port(bind: str) -> int:
    with socket.socket(socket.AF_INET6 if ":" in bind else socket.AF_INET) as s:
        s.bind((bind, 0))
        return int(s.getsockname()[1])


def studio_url(bind: str, port: int, token: str) -> str:
    host = f"[{bind}]" if ":" in bind else bind
    return f"http://{host}:{port}/?token={token}"


def allowed_hosts(bind: str, port: int, allow_remote: bool = False) -> set[str] | None:
    """The Host headers the studio answers: its loopback names, or with
    --allow-remote on another address any name at its port (None), since
    the remote browser reaches it by whatever name its network gives this
    host (the token still decides)."""
    if allow_remote and not is_loopback(bind):
        return None
    names = {bind, f"[{bind}]"}
    if is_loopback(bind):
        names |= {"127.0.0.1", "localhost", "[::1]"}
    return {f"{n}:{port}" for n in names}


def _initial(paths: HostPaths, given: str) -> str:
    """The POLICY or FILE to open first, checked before anything listens: a
    file by its absolute path, else a dotted name whose XML exists."""
    from acm.errors import PolicyError
    from xm_core.web.services import policy_files

    if Path(given).is_file():
        return str(Path(given).resolve())
    try:
        xml = Path(policy_files(paths, given).xml)
    except (PolicyError, XmError):
        xml = None
    if xml is None or not xml.is_file():
        raise UsageError(
            f"No policy '{given}' under {paths.policies}, and no policy file of that name"
        )
    return given


def run_studio(
    paths: HostPaths,
    announce: Callable[[str], None],
    port: int = 0,
    bind: str = "127.0.0.1",
    allow_remote: bool = False,
    open_browser: bool = True,
    initial: str | None = None,
) -> None:
    """Serve the studio until interrupted; `announce` gets the URL (with the
    access token) once the port is known. A non-loopback `bind` is refused
    unless `allow_remote`."""
    import uvicorn

    from xm_core.web.app import StudioConfig, create_app

    if not is_loopback(bind) and not allow_remote:
        raise UsageError(
            f"Refusing to listen on {bind}, which is not a loopback address: anyone who "
            "reaches it with the URL could change the policies of this host. "
            "Add --allow-remote to do it anyway."
        )
    if initial is not None:
        initial = _initial(paths, initial)
    # The socket is bound before the URL is printed: a port in use is one
    # clear error, and a printed URL always works.
    sock = socket.socket(socket.AF_INET6 if ":" in bind else socket.AF_INET)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((bind, port))
        sock.listen(128)
    except OSError as exc:
        sock.close()
        raise XmError(f"Cannot listen on {bind} port {port}: {exc.strerror or exc}") from None
    port = int(sock.getsockname()[1])
    config = StudioConfig(
        paths, allowed_hosts(bind, port, allow_remote), initial=initial, port=port
    )
    url = studio_url(bind, port, config.token)
    announce(url)
    if open_browser:
        import webbrowser

        webbrowser.open(url)
    server = uvicorn.Server(
        uvicorn.Config(create_app(config), log_level="warning", access_log=False)
    )
    try:
        server.run(sockets=[sock])
    finally:
        sock.close()
