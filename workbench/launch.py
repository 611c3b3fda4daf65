"""Starting the Streamlit app the way a local tool must start: no prompt, ever.

Streamlit's own first run asks for an e-mail address on standard input and waits, and
opens a browser only from its non-headless mode, the mode that asks. So the workbench
always runs Streamlit headless with the prompt switched off and standard input closed,
and opens the browser itself, once the page answers, only where one can be opened (a
terminal and a display), in a background thread so nothing ever blocks on it.

Every setting goes on Streamlit's command line rather than into a ``config.toml``: a
user's ``~/.streamlit/`` or the folder they start from must not change what a fresh
machine does.
"""

from __future__ import annotations

import contextlib
import errno
import os
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from workbench.errors import WorkbenchError

DEFAULT_PORT = 8501
DEFAULT_ADDRESS = "localhost"
#: How many ports above the default to try when the default is taken.
PORT_SEARCH = 50

#: Streamlit options for a local tool. ``viewer`` keeps print, screencast and the theme in
#: the menu and drops the developer items (Deploy, Rerun, Clear cache).
STREAMLIT_OPTIONS: dict[str, str] = {
    "server.headless": "true",
    "server.showEmailPrompt": "false",
    "browser.gatherUsageStats": "false",
    "client.toolbarMode": "viewer",
    # Uploads up to 2 GiB (one ONNX file cannot be larger); bigger models load from a server path.
    "server.maxUploadSize": "2048",
    "server.maxMessageSize": "400",
    "theme.primaryColor": "#76b900",
}


@dataclass(frozen=True)
class LaunchPlan:
    """What ``trt-workbench ui`` will run, decided before anything starts."""

    command: list[str]
    address: str
    port: int
    url: str
    open_browser: bool
    #: Said before serving ("port 8501 is in use: serving on 8502").
    notices: tuple[str, ...] = ()


def port_is_free(address: str, port: int) -> bool:
    """Whether a server could listen on ``address:port`` now (Streamlit binds both stacks)."""
    host = "" if address in ("0.0.0.0", "::") else address
    try:
        infos = socket.getaddrinfo(host or None, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror as exc:
        raise WorkbenchError(f"Cannot listen on address {address!r}: {exc.strerror}.") from exc
    for family, kind, proto, _, sockaddr in infos:
        with socket.socket(family, kind, proto) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                probe.bind(sockaddr)
            except OSError as exc:
                if exc.errno == errno.EADDRINUSE:
                    return False
                if exc.errno == errno.EADDRNOTAVAIL and family == socket.AF_INET6:
                    continue  # no IPv6 on this host: the IPv4 answer decides
                raise WorkbenchError(f"Cannot listen on {address}:{port}: {exc.strerror}.") from exc
    return True


def find_free_port(address: str, start: int) -> int | None:
    for port in range(start, min(start + PORT_SEARCH, 65536)):
        if port_is_free(address, port):
            return port
    return None


def can_open_browser() -> bool:
    """A browser can be opened: a terminal, a display, and a graphical browser to start.

    A console browser (lynx, w3m) would take over the terminal Streamlit logs to, so only
    a browser Python starts in the background counts.
    """
    if not (sys.stdin.isatty() and sys.stdout.isatty()):
        return False
    if sys.platform.startswith("linux") and not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")):
        return False
    import webbrowser

    try:
        browser = webbrowser.get()
    except webbrowser.Error:
        return False
    return not (isinstance(browser, webbrowser.GenericBrowser) and not isinstance(browser, webbrowser.BackgroundBrowser))


def plan_launch(
    *,
    sample: str | None,
    port: int | None,
    address: str = DEFAULT_ADDRESS,
    headless: bool = False,
) -> LaunchPlan:
    """The Streamlit command line and where it will serve.

    ``port=None`` means the default port, or the next free one when it is taken (said in a
    notice); a port the user named is theirs: taken means a one-sentence error naming a
    free one.
    """
    notices: list[str] = []
    if port is not None and not 1 <= port <= 65535:
        raise WorkbenchError(f"--port must be between 1 and 65535, not {port}.")
    wanted = DEFAULT_PORT if port is None else port
    chosen = wanted
    if not port_is_free(address, wanted):
        free = find_free_port(address, wanted + 1)
        if port is not None:
            hint = f"; port {free} is free (--port {free})" if free else ""
            raise WorkbenchError(f"Port {wanted} on {address} is already in use{hint}.")
        if free is None:
            raise WorkbenchError(
                f"Ports {wanted}-{wanted + PORT_SEARCH - 1} on {address} are all in use: pass a free one with --port."
            )
        notices.append(f"Port {wanted} is in use: serving on port {free} instead.")
        chosen = free
    app = Path(__file__).resolve().parent / "ui" / "app_main.py"
    command = [sys.executable, "-m", "streamlit", "run", str(app)]
    for key, value in STREAMLIT_OPTIONS.items():
        command += [f"--{key}", value]
    command += ["--server.port", str(chosen), "--server.address", address]
    if sample:
        command += ["--", "--sample", sample]
    shown = "localhost" if address in ("0.0.0.0", "::", "") else address
    return LaunchPlan(
        command=command,
        address=address,
        port=chosen,
        url=f"http://{shown}:{chosen}",
        open_browser=not headless and can_open_browser(),
        notices=tuple(notices),
    )


def health_url(plan: LaunchPlan) -> str:
    return f"{plan.url}/_stcore/health"


def wait_until_serving(url: str, *, timeout: float, alive: Callable[[], bool]) -> bool:
    """Poll Streamlit's health endpoint until it answers ``ok`` (False on timeout or exit)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and alive():
        try:
            with urllib.request.urlopen(url, timeout=2) as answer:
                if answer.status == 200:
                    return True
        except OSError:
            pass
        time.sleep(0.2)
    return False


def streamlit_environment() -> dict[str, str]:
    """The server's environment: ours, with Streamlit's own switches pinned off."""
    env = dict(os.environ)
    # Environment variables beat a user's config.toml for these (Streamlit reads both).
    env["STREAMLIT_SERVER_HEADLESS"] = "true"
    env["STREAMLIT_SERVER_SHOW_EMAIL_PROMPT"] = "false"
    env["STREAMLIT_BROWSER_GATHER_USAGE_STATS"] = "false"
    return env


def serve(plan: LaunchPlan, *, say: Callable[[str], None]) -> int:
    """Run the server in the foreground until it exits; say the URL once it answers."""
    for notice in plan.notices:
        say(notice)
    process = subprocess.Popen(plan.command, stdin=subprocess.DEVNULL, env=streamlit_environment())

    def announce() -> None:
        if not wait_until_serving(health_url(plan), timeout=600, alive=lambda: process.poll() is None):
            return
        say(f"TensorRT Workbench is serving at {plan.url}  (Ctrl+C stops it)")
        if plan.open_browser:
            import webbrowser

            with contextlib.suppress(webbrowser.Error):
                webbrowser.open(plan.url, new=2)

    threading.Thread(target=announce, name="announce-url", daemon=True).start()
    try:
        return process.wait()
    except KeyboardInterrupt:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
        return 130
