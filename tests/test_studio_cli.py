"""`xm acm studio` typed as a user types it: the URL it prints, its token,
and the refusal of a non-loopback address."""

from __future__ import annotations

import os
import re
import select
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

from tests.hosttools import xm_run
from xm_core.files.paths import EXAMPLE_POLICY, HostPaths


def test_a_non_loopback_bind_is_refused_without_allow_remote(tmp_path: Path) -> None:
    run = xm_run(tmp_path, "acm", "studio", "--no-browser", "--bind", "0.0.0.0")
    assert run.code == 2
    assert run.err.startswith("Error: 'Refusing to listen on 0.0.0.0, which is not a loopback")
    assert "--allow-remote" in run.err
    assert len(run.err.splitlines()) == 1 and run.out == ""


def test_a_policy_or_file_that_does_not_exist_is_refused_before_listening(
    tmp_path: Path,
) -> None:
    root = tmp_path / "root"
    HostPaths(root).seed_example()
    for given in ("no.such.policy", "../../x", str(tmp_path / "missing.xml")):
        argv = [sys.executable, "-m", "xm_core", "--root", str(root), "acm", "studio"]
        # a studio that starts anyway is stopped by the time limit and fails the test
        try:
            run = subprocess.run(
                [*argv, "--no-browser", "--port", "0", given],
                capture_output=True,
                text=True,
                timeout=20,
            )
        except subprocess.TimeoutExpired:
            raise AssertionError(f"the studio started for {given!r}") from None
        assert run.returncode == 2 and run.stdout == "", (given, run.stdout)
        assert run.stderr.startswith(f"Error: \"No policy '{given}' under "), run.stderr
        assert len(run.stderr.splitlines()) == 1


def _get(url: str, headers: dict[str, str] | None = None) -> tuple[int, bytes]:
    request = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=10) as resp:
            return resp.status, resp.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def _post(url: str, body: bytes, headers: dict[str, str]) -> tuple[int, bytes]:
    request = urllib.request.Request(url, data=body, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=10) as resp:
            return resp.status, resp.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def test_studio_prints_its_url_with_a_token_and_serves_only_with_it(tmp_path: Path) -> None:
    root = tmp_path / "root"
    HostPaths(root).seed_example()
    policy_file = HostPaths(root).policy_files(EXAMPLE_POLICY).xml
    env = {**os.environ, "XM_ROOT": str(root)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "xm_core", "acm", "studio", "--no-browser", policy_file],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
    )
    try:
        assert proc.stdout is not None
        ready, _, _ = select.select([proc.stdout], [], [], 30)
        assert ready, "the studio printed no URL"
        line = proc.stdout.readline().decode()
        match = re.fullmatch(r"xm-acm studio: (http://127\.0\.0\.1:(\d+)/)\?token=(\S+)\n", line)
        assert match, line
        base, token = match.group(1), match.group(3)
        deadline = time.monotonic() + 20
        while True:
            try:
                status, body = _get(f"{base}?token={token}")
                break
            except (urllib.error.URLError, ConnectionError):
                assert time.monotonic() < deadline
                time.sleep(0.1)
        assert status == 200 and b"policy studio" in body
        assert _get(base)[0] == 403
        assert _get(f"{base}?token=x{token}")[0] == 403
        csrf = re.search(rb'name="csrf-token" content="([^"]+)"', body)
        assert csrf
        headers = {
            "X-Studio-Token": token,
            "X-CSRF-Token": csrf.group(1).decode(),
            "Origin": base.rstrip("/"),
            "Content-Type": "application/json",
        }
        status, answer = _post(f"{base}api/open", b'{"initial": true}', headers)
        assert status == 200 and b"example.chwall_ste.client_v1" in answer
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def test_a_port_in_use_is_one_error_line(tmp_path: Path) -> None:
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        run = xm_run(tmp_path, "acm", "studio", "--no-browser", "--port", str(port))
    assert run.code == 1 and run.out == ""
    assert run.err.startswith(f"Error: 'Cannot listen on 127.0.0.1 port {port}: ")
    assert len(run.err.splitlines()) == 1
