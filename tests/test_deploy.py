"""The shipped deployment: `streamlit run app.py` with the repo's .streamlit/config.toml.

The server listens on loopback only, and makes no outside connection at start or in use: every
``connect()`` of the server process and its threads is recorded with strace (when installed) and its
sockets are sampled with psutil, while a real browser (Debian's chromium, Playwright) uses the public
page and a client tries a WebSocket from another origin. The log never mentions the external-IP
lookup (checkip.amazonaws.com). /_stcore/metrics cannot be switched off by configuration in
Streamlit 1.67: the test records what it serves (counts only, no names) so that a change is seen;
the reverse proxy refuses it (README "部署"). A downloaded validation report is served at an
unguessable /media/ URL that stops working after two later script runs (the download is deferred,
so nothing is in the media store before the click). When the tree has ``serve.py`` (the guarded ASGI
entry), its guard is tested too: metrics and agent API closed, downloads only with a session cookie.
Ports 8651-8652.
"""

from __future__ import annotations

import ipaddress
import os
import re
import shutil
import socket
import subprocess
import sys
import threading
import time
import tomllib
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from conftest import copy_demo_region
from test_browser import Settle, launched_chromium

psutil = pytest.importorskip("psutil")

REPO = Path(__file__).resolve().parents[1]
CONFIG = REPO / ".streamlit" / "config.toml"
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"


def _working_strace() -> list[str] | None:
    """strace recording every ``connect()`` of a process, its threads and children, when installed and allowed
    to trace here (some containers forbid ptrace): with a seccomp filter when it can (only ``connect()`` then
    stops the process: the app runs at nearly its own speed), else stopping at every system call."""
    path = shutil.which("strace")
    if path is None:
        return None
    for args in ([path, "-f", "--seccomp-bpf", "-qq", "-e", "trace=connect"], [path, "-f", "-qq", "-e", "trace=connect"]):
        probe = subprocess.run([*args, "-o", os.devnull, "true"], capture_output=True, timeout=30, check=False)
        if probe.returncode == 0:
            return args
    return None


STRACE = _working_strace()
PORT = 8651


def test_shipped_config_is_a_closed_deployment() -> None:
    config = tomllib.loads(CONFIG.read_text(encoding="utf-8"))
    server, browser, client = config["server"], config["browser"], config["client"]
    assert server["address"] == "127.0.0.1"  # loopback; an explicit address also skips the external-IP lookup
    assert browser["gatherUsageStats"] is False
    assert server["enableXsrfProtection"] is True and server["enableCORS"] is True
    assert server["fileWatcherType"] == "none" and server["runOnSave"] is False
    assert client["showErrorDetails"] == "none"  # no traceback in a browser
    assert server["enableAgentApi"] is False
    assert set(server["allowedHosts"]) <= {"127.0.0.1", "localhost"}
    assert "serverAddress" not in browser  # see _print_url: only then is an unset address looked up


def _is_loopback(host: str) -> bool:
    try:
        address = ipaddress.ip_address(host.split("%")[0])
    except ValueError:
        return False
    mapped = getattr(address, "ipv4_mapped", None)
    return (mapped or address).is_loopback


CONNECT = re.compile(r'connect\(\d+, \{sa_family=AF_INET6?, .*?(?:inet_addr\("([^"]+)"\)|inet_pton\(AF_INET6, "([^"]+)")')


def outside_connects(trace: Path) -> list[str]:
    """The strace lines of ``connect()`` calls to an internet address that is not loopback."""
    if not trace.exists():
        return []
    lines = []
    for line in trace.read_text(errors="replace").splitlines():
        match = CONNECT.search(line)
        if match and not _is_loopback(match.group(1) or match.group(2)):
            lines.append(line)
    return lines


class Server:
    """The app as a subprocess (under strace when installed) and what its process was seen doing."""

    def __init__(self, root: Path, users: Path, log: Path, trace: Path, *, port: int = PORT,
                 script: str = "app.py") -> None:
        self.port, self.root = port, root
        self.url = f"http://127.0.0.1:{port}"
        self.log, self.trace = log, trace
        env = {k: v for k, v in os.environ.items() if not k.startswith("STREAMLIT_")}  # the repo config only
        env.update(ELDERMAP_REGIONS=str(root), ELDERMAP_USERS=str(users), ELDERMAP_LOGIN_DELAY_S="0")
        cmd = [sys.executable, "-m", "streamlit", "run", script, "--server.port", str(port)]
        if STRACE:
            cmd = [*STRACE, "-o", str(trace), *cmd]
        self._out = log.open("w")
        self.proc = subprocess.Popen(cmd, cwd=REPO, env=env, stdout=self._out, stderr=subprocess.STDOUT)
        self.remote: set[tuple[str, int]] = set()
        self.listening: set[tuple[str, int]] = set()
        self._stop = threading.Event()
        self._sampler = threading.Thread(target=self._sample, daemon=True)
        self._sampler.start()

    def python(self) -> psutil.Process | None:
        """The Python process serving the app (the child of strace, or the process itself)."""
        try:
            top = psutil.Process(self.proc.pid)
            if not STRACE:
                return top
            children = top.children()
            return children[0] if children else None
        except psutil.NoSuchProcess:
            return None

    def _sample(self) -> None:
        while not self._stop.is_set():
            proc = self.python()
            if proc is not None:
                try:
                    for conn in proc.net_connections(kind="inet"):
                        if conn.status == psutil.CONN_LISTEN:
                            self.listening.add((conn.laddr.ip, conn.laddr.port))
                        if conn.raddr:
                            self.remote.add((conn.raddr.ip, conn.raddr.port))
                except psutil.Error:
                    pass
            time.sleep(0.05)

    def wait_healthy(self, timeout_s: float = 90) -> None:
        deadline = time.time() + timeout_s
        while time.time() < deadline:
            if self.proc.poll() is not None:
                pytest.fail(f"the app exited ({self.proc.returncode}); see {self.log}")
            try:
                with urllib.request.urlopen(f"{self.url}/_stcore/health", timeout=2) as response:
                    if response.status == 200:
                        return
            except OSError:
                time.sleep(0.5)
        pytest.fail(f"the app did not start in {timeout_s:.0f} s; see {self.log}")

    def stop(self) -> None:
        self._stop.set()
        child = self.python() if STRACE else None
        if child is not None:  # strace would detach and leave its tracee running
            child.terminate()
            try:
                child.wait(timeout=15)
            except psutil.TimeoutExpired:
                child.kill()
        self.proc.terminate()
        try:
            self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self._out.close()


@pytest.fixture(scope="module")
def server(demo_region, tmp_path_factory):
    """The app on a copy of the demo region, started like `make app` from the repo folder."""
    from data.auth import add_user

    folder = tmp_path_factory.mktemp("deploy")
    root = copy_demo_region(demo_region, folder / "regions")
    users = folder / "users.toml"
    add_user(users, "admin", "admin", "admin-pass-1")
    with socket.socket() as probe:  # a clear message rather than a confusing failure
        if probe.connect_ex(("127.0.0.1", PORT)) == 0:
            pytest.fail(f"port {PORT} is in use")
    srv = Server(root, users, folder / "streamlit.log", folder / "connect.trace")
    try:
        srv.wait_healthy()
        yield srv
    finally:
        srv.stop()


def _get(url: str, **headers: str) -> tuple[int, bytes]:
    request = urllib.request.Request(url, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        with exc:
            return exc.code, exc.read()


def _cross_origin_websocket(port: int, origin: str) -> bytes:
    """Open the app's WebSocket with a foreign Origin header (a raw upgrade request); the status line."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as conn:
        conn.sendall((f"GET /_stcore/stream HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\n"
                      "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                      f"Sec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: streamlit\r\nOrigin: {origin}\r\n\r\n")
                     .encode())
        try:
            return conn.recv(200).split(b"\r\n", 1)[0]
        except OSError:
            return b""


def test_listens_on_loopback_only(server: Server) -> None:
    time.sleep(0.5)
    assert server.listening, "no listening socket was seen: the sampler saw nothing"
    assert {ip for ip, _ in server.listening} == {"127.0.0.1"}, server.listening
    assert (("127.0.0.1", PORT)) in server.listening
    assert f"URL: http://127.0.0.1:{PORT}" in server.log.read_text()


def test_start_and_use_make_no_outside_connection(server: Server, request) -> None:
    requested: list[str] = []
    browser = request.getfixturevalue("chromium")  # one chromium for the module
    context = browser.new_context()
    try:
        page = context.new_page()
        page.on("request", lambda r: requested.append(r.url))
        settle = Settle(page)
        page.goto(server.url, wait_until="domcontentloaded")
        page.get_by_role("heading", name="找养老服务").wait_for(timeout=90_000)
        page.locator("iframe").first.wait_for(timeout=90_000)  # the map (a component) has rendered
        settle.wait(page)  # and the page and the map have asked for all they show
    finally:
        context.close()
    assert requested and all(u.startswith(server.url) or u.startswith("data:") or u.startswith("blob:")
                             or u == "about:blank" for u in requested), sorted(set(requested))
    for path in ("/", "/_stcore/health", "/_stcore/host-config", "/find"):
        assert _get(server.url + path)[0] == 200, path
    # A WebSocket from another origin is refused, and refusing it asks no outside host for this
    # machine's address (Streamlit's CORS check would look it up at checkip.amazonaws.com).
    status = _cross_origin_websocket(server.port, "http://attacker.example")
    assert b"101" not in status, status
    time.sleep(1.5)
    log = server.log.read_text()
    assert "checkip" not in log and "external IP" not in log, log
    assert not outside_connects(server.trace), outside_connects(server.trace)
    outside = {(ip, port) for ip, port in server.remote if not _is_loopback(ip)}
    assert not outside, outside
    if not STRACE:
        pytest.skip("strace is not installed: connections were only sampled (psutil), not all recorded")


def test_metrics_endpoint_with_the_shipped_config(server: Server) -> None:
    """Streamlit 1.67 has no option to switch /_stcore/metrics off: the shipped config leaves it answering,
    with counters only. The reverse proxy refuses it (README "部署"); this records what it shows."""
    status, body = _get(server.url + "/_stcore/metrics")
    assert status == 200
    text = body.decode()
    assert "active_sessions" in text
    for secret in ("admin", "demo", "ELDERMAP", str(REPO), "/tmp"):
        assert secret not in text, secret
    status, _ = _get(server.url + "/_stcore/agent/openapi.json")
    assert status == 200  # says "switched off"
    request = urllib.request.Request(server.url + "/_stcore/agent/interact", data=b"{}", method="POST",
                                     headers={"Content-Type": "application/json"})
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(request, timeout=10)
    refused.value.close()
    assert refused.value.code == 403  # enableAgentApi = false


def test_outside_connects_parses_strace_lines(tmp_path: Path) -> None:
    trace = tmp_path / "t"
    trace.write_text(
        '12 connect(5, {sa_family=AF_INET, sin_port=htons(80), sin_addr=inet_addr("52.1.2.3")}, 16) = -1\n'
        '12 connect(6, {sa_family=AF_INET, sin_port=htons(1), sin_addr=inet_addr("127.0.0.1")}, 16) = 0\n'
        '12 connect(7, {sa_family=AF_INET6, sin6_port=htons(443), sin6_flowinfo=htonl(0), '
        'inet_pton(AF_INET6, "2600:1f18::1", &sin6_addr), sin6_scope_id=0}, 28) = -1\n'
        '12 connect(8, {sa_family=AF_INET6, sin6_port=htons(1), sin6_flowinfo=htonl(0), '
        'inet_pton(AF_INET6, "::1", &sin6_addr), sin6_scope_id=0}, 28) = 0\n'
        '12 connect(9, {sa_family=AF_UNIX, sun_path="/run/x"}, 110) = 0\n')
    assert [line.split("(")[1].split(",")[0] for line in outside_connects(trace)] == ["5", "7"]


# ---------------------------------------------------------------- downloads (/media/<id>)


def _facility_csv(demo_region, path: Path) -> Path:
    import pandas as pd

    fac = demo_region.facilities.head(3)
    pd.DataFrame({"机构编号": ["N1", "N2", "N3"], "名称": ["甲站", "乙站", "丙站"], "类型": ["养老服务站", "助餐点", "不存在的类型"],
                  "经度": fac.geometry.x.round(6).to_list(), "纬度": fac.geometry.y.round(6).to_list()}
                 ).to_csv(path, index=False)
    return path


def _validate_and_download(page, url: str, upload: Path):
    """Log in as the admin on 数据管理, validate ``upload`` and download its report; the Download, and the page's
    :class:`test_browser.Settle` (attached before the page opened the app)."""
    settle = Settle(page)
    page.goto(url + "/data", wait_until="domcontentloaded")
    page.get_by_role("textbox", name="用户名").wait_for(timeout=90_000)
    page.get_by_role("textbox", name="用户名").fill("admin")
    page.get_by_role("textbox", name="密码").fill("admin-pass-1")
    page.get_by_role("button", name="登录").click()
    page.get_by_text("上传并校验数据文件").first.wait_for(timeout=90_000)
    runs = settle.started
    page.locator("input[type='file']").first.set_input_files(str(upload))
    page.get_by_role("button", name="校验").wait_for(timeout=60_000)
    settle.wait(page, since=runs)  # the run of the upload is over: the click is not lost in it
    page.get_by_role("button", name="校验").click()
    page.get_by_role("button", name="下载问题报告（Excel）").wait_for(timeout=90_000)
    with page.expect_download(timeout=60_000) as info:
        page.get_by_role("button", name="下载问题报告（Excel）").click()
    return info.value, settle


@pytest.fixture(scope="module")
def chromium():
    """One chromium for this module's tests (test_browser.launched_chromium), asked for where a test needs it;
    each test opens a context of its own."""
    if not Path(CHROMIUM).exists():
        pytest.skip("Debian's chromium is not installed (make test installs it)")
    pytest.importorskip("playwright.sync_api")
    with launched_chromium() as browser:
        yield browser


def test_a_report_download_url_is_unguessable_and_short_lived(server: Server, demo_region, tmp_path: Path,
                                                             request) -> None:
    """Streamlit serves /media/<id> to whoever has the URL (no session check; README "部署" has the
    proxy rule, serve.py the guard). What the app controls: the report is a deferred download, put in
    the media store only when the user clicks, under a content hash, and dropped after two later
    script runs."""
    upload = _facility_csv(demo_region, tmp_path / "新设施.csv")
    browser = request.getfixturevalue("chromium")  # one chromium for the module
    context = browser.new_context(accept_downloads=True)
    try:
        page = context.new_page()
        download, settle = _validate_and_download(page, server.url, upload)
        assert Path(download.path()).read_bytes()[:2] == b"PK"
        from data import audit

        exports = audit.read(server.root).query("action == 'export'")
        assert exports["detail"].str.contains("校验报告 新设施.csv").any()  # the download is audited
        media_url = download.url
        file_id = media_url.rsplit("/", 1)[1].split(".")[0]
        assert media_url.startswith(server.url + "/media/") and re.fullmatch(r"[0-9a-f]{32,}", file_id), media_url
        assert _get(media_url)[0] == 200  # anyone holding the URL gets it, for now
        confirm = page.get_by_text(re.compile("^确认把")).first
        for _ in range(3):  # later runs of the session (the same report still shown) sweep the file away
            settle.wait(page)
            runs = settle.started
            confirm.click()
            settle.wait(page, since=runs)
    finally:
        context.close()
    deadline = time.time() + 30
    while _get(media_url)[0] != 404 and time.time() < deadline:
        time.sleep(0.2)
    assert _get(media_url)[0] == 404, "the downloaded report is still served"


SERVE = REPO / "serve.py"


@pytest.mark.skipif(not SERVE.exists(), reason="serve.py (the guarded ASGI entry) is not in this tree")
def test_serve_entry_closes_metrics_and_guards_downloads(demo_region, tmp_path_factory, tmp_path, request) -> None:
    """`streamlit run serve.py`: metrics and agent API answer 404, the address lookups never run (also for
    a cross-origin WebSocket before any page run), and a download needs the ElderMap session cookie."""
    folder = tmp_path_factory.mktemp("serve")
    root = copy_demo_region(demo_region, folder / "regions")
    users = folder / "users.toml"
    from data.auth import add_user

    add_user(users, "admin", "admin", "admin-pass-1")
    srv = Server(root, users, folder / "streamlit.log", folder / "connect.trace", port=8652, script="serve.py")
    try:
        srv.wait_healthy()
        assert _get(srv.url + "/_stcore/metrics")[0] == 404
        assert _get(srv.url + "/_stcore/agent/openapi.json")[0] == 404
        assert _get(srv.url + "/_stcore/health")[0] == 200
        assert b"101" not in _cross_origin_websocket(srv.port, "http://attacker.example")  # before any page run
        upload = _facility_csv(demo_region, tmp_path / "新设施.csv")
        browser = request.getfixturevalue("chromium")  # one chromium for the module
        context = browser.new_context(accept_downloads=True)
        try:
            download, _ = _validate_and_download(context.new_page(), srv.url, upload)
            assert Path(download.path()).read_bytes()[:2] == b"PK"  # the logged-in browser got it
            cookie = "; ".join(f"{c['name']}={c['value']}" for c in context.cookies())
            assert _get(download.url)[0] == 403  # no session cookie: refused
            assert _get(download.url, Cookie=cookie)[0] == 200
        finally:
            context.close()
        time.sleep(1)
        log = srv.log.read_text()
        assert "checkip" not in log and "external IP" not in log, log
        assert not outside_connects(srv.trace), outside_connects(srv.trace)
    finally:
        srv.stop()
