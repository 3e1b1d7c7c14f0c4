"""Hostile inputs: each probe of issue 17 rerun against a real server, with its figure.

One server with API keys serves a copy of the hospital from a temporary folder, its store the
deployment's default one in a fresh data folder ($ROUTING_DATA_DIR). In order:

- file modes of the fresh data folder (the store holds caller numbers);
- deeply nested JSON on every route that reads a JSON body, and ids too large for SQLite;
- webhooks to internal addresses, in a deployment sent to `/v1/flows/validate`;
- many duplicate keys in one flow file (diagnostics bounded, then "and N more");
- an unsigned post to the built-in inbox, and whether it is listed;
- a board session used again after sign-out;
- last (it may cost the server memory): a flow file of many empty YAML documents added to the
  folder and `/v1/flows/reload` called, while calls keep arriving: refused, the server's RSS
  bounded, the calls still decided within the deadline.

    python -m reliability.hostile [--quick]
"""

from __future__ import annotations

import shutil
import stat
import tempfile
import threading
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

import httpx

from reliability.common import (
    KEYS,
    ROOT,
    Figure,
    Server,
    count,
    info,
    new_call,
    probe_main,
    ratio,
    rss_mb,
    share,
    timed,
)

DEEP = b"[" * 30000
HUGE = "9223372036854775808"  # 2**63: one more than SQLite's largest integer
SSRF = [
    "http://169.254.169.254/latest/meta-data/",
    "http://127.0.0.1:8000/x",
    "http://[::1]:22/",
    "http://user:pass@10.0.0.1:6379/",
    "http://0x7f000001/",
]
DEADLINE_MS = 500
CSRF = "x-csrf-token"


def ask(server: Server, method: str, path: str, **options: Any) -> httpx.Response | None:
    """One request on a connection of its own (a probe that breaks a connection spoils no
    other); None when no answer came."""
    try:
        with httpx.Client(base_url=server.url, timeout=60) as client:
            return client.request(method, path, **options)
    except httpx.HTTPError:
        return None


def client_error(response: httpx.Response | None) -> bool:
    return response is not None and 400 <= response.status_code < 500


def status(response: httpx.Response | None) -> str:
    return "no answer" if response is None else str(response.status_code)


def file_modes(data: Path) -> list[Figure]:
    """Every file of the fresh data folder 0600 at most, every folder 0700 at most."""
    probe = "file modes of a fresh data folder"
    loose = []
    for path in [data, *sorted(data.rglob("*"))]:
        mode = stat.S_IMODE(path.stat().st_mode)
        if mode & 0o077:
            loose.append(f"{path.relative_to(data.parent)} {mode:04o}")
    return [
        count(probe, "files or folders readable by others (group or world)", len(loose)),
        *[info(probe, "too open", entry) for entry in loose[:4]],
    ]


def deep_json(server: Server) -> list[Figure]:
    probe = "deeply nested JSON (30,000 '[')"
    routes = [
        ("/v1/calls", "telephony"),
        ("/v1/route", "telephony"),
        ("/v1/flows/validate", "admin"),
        ("/board/session", None),
        ("/notifications/inbox", None),
    ]
    figures = []
    for path, role in routes:
        headers = {"content-type": "application/json", **(server.headers(role) if role else {})}
        response = ask(server, "POST", path, content=DEEP, headers=headers)
        figures.append(
            Figure(probe, f"POST {path}", status(response), "4xx", client_error(response))
        )
    return figures


def huge_ids(server: Server) -> list[Figure]:
    probe = "ids too large for SQLite (2**63)"
    staff, admin = server.headers("staff"), server.headers("admin")
    asks = [
        ("GET", f"/v1/tickets/{HUGE}", staff, None),
        ("POST", f"/v1/tickets/{HUGE}/claim", staff, {"by": "probe"}),
        ("GET", f"/v1/notifications?ticket_id={HUGE}", admin, None),
    ]
    figures = []
    for method, path, headers, body in asks:
        response = ask(server, method, path, headers=headers, json=body)
        figures.append(
            Figure(
                probe,
                f"{method} {path.split('?')[0]}",
                status(response),
                "4xx",
                client_error(response),
            )
        )
    return figures


def deployment_files(folder: Path) -> dict[str, str]:
    """The deployment as `/v1/flows/validate` takes it: its files and its modules."""
    files = {
        str(p.relative_to(folder)): p.read_text(encoding="utf-8")
        for p in sorted(folder.rglob("*.yaml"))
        if "scenarios" not in p.parts
    }
    modules = folder.parent.parent / "flows"
    return files | {
        f"modules/{p.name}": p.read_text(encoding="utf-8") for p in sorted(modules.glob("*.yaml"))
    }


def ssrf(server: Server, folder: Path) -> list[Figure]:
    """Each internal address as a contact's webhook: the deployment must be refused."""
    probe = "webhooks to internal addresses"
    files = deployment_files(folder)
    refused, accepted = 0, []
    for address in SSRF:
        changed = files["deployment.yaml"].replace(
            "webhook: /notifications/inbox", f'webhook: "{address}"', 1
        )
        response = ask(
            server,
            "POST",
            "/v1/flows/validate",
            headers=server.headers("admin"),
            json={"files": {**files, "deployment.yaml": changed}},
        )
        answer = response.status_code if response is not None else 0
        body = response.json() if response is not None and answer == 200 else {}
        if answer == 422 or (answer == 200 and not body.get("ok")):
            refused += 1
        else:
            accepted.append(address)
    return [
        share(probe, "refused by validation", refused, len(SSRF)),
        *[info(probe, "accepted", address) for address in accepted],
    ]


def duplicate_keys(server: Server) -> list[Figure]:
    probe = "duplicate keys in one flow file"
    keys = 9000  # under the body limit (64 KiB) as JSON
    text = "flow: dup\n" + "a: 1\n" * keys
    response = ask(
        server,
        "POST",
        "/v1/flows/validate",
        headers=server.headers("admin"),
        json={"files": {"flows/dup.yaml": text}},
    )
    ok = response is not None and response.status_code == 200
    found = len(response.json().get("diagnostics", [])) if response is not None and ok else 0
    return [
        Figure(
            probe,
            "answered (keys)",
            f"{status(response)} ({keys})",
            "an answer",
            response is not None,
        ),
        count(probe, "diagnostics given", found, at_most=1000),
    ]


def inbox(server: Server) -> list[Figure]:
    probe = "unsigned inbox posts (API keys configured)"
    payload = {"event": "sla-missed", "contact": {"name": "forged"}, "text": "x" * 60000}
    answers = [ask(server, "POST", "/notifications/inbox", json=payload) for _ in range(5)]
    listed = ask(server, "GET", "/v1/notifications/inbox", headers=server.headers("admin"))
    body = listed.json() if listed is not None and listed.status_code == 200 else []
    rows = body if isinstance(body, list) else body.get("notifications", [])
    forged = sum(isinstance(row, dict) and row.get("contact") == "forged" for row in rows)
    return [
        share(probe, "unsigned posts refused", sum(client_error(a) for a in answers), len(answers)),
        count(probe, "forged notifications listed", forged),
    ]


def session_reuse(server: Server) -> list[Figure]:
    probe = "board session after sign-out"
    with httpx.Client(base_url=server.url, timeout=10) as browser:
        signed = browser.post("/board/session", json={"name": "probe", "key": KEYS["staff"]})
        if signed.status_code != 200:
            return [info(probe, "sign-in", f"failed: {signed.status_code}")]
        cookies, csrf = dict(browser.cookies), signed.json().get("csrf", "")
        out = browser.post("/board/signout", headers={CSRF: csrf})
    with httpx.Client(base_url=server.url, cookies=cookies, timeout=10) as old:
        listed = old.get("/v1/tickets")
        claimed = old.post("/v1/tickets/1/claim", headers={CSRF: csrf}, json={"by": "probe"})
    return [
        info(probe, "sign-out", out.status_code),
        Figure(probe, "old cookie lists tickets", status(listed), "401", listed.status_code == 401),
        Figure(
            probe,
            "old cookie and CSRF token claim a ticket",
            status(claimed),
            "401 or 403",
            claimed.status_code in (401, 403),
        ),
    ]


def amplification(server: Server, folder: Path, documents: int) -> list[Figure]:
    """Many empty YAML documents in one file, then a reload, while calls keep arriving."""
    probe = f"flow-file amplification ({documents:,} empty documents, reload)"
    version = ask(server, "GET", "/healthz")
    before_version = version.json().get("version") if version is not None else None
    (folder / "flows" / "bomb.yaml").write_text("---\n" * documents, encoding="utf-8")
    before, peak = rss_mb(server.pid), [0.0]
    done = threading.Event()

    def sample() -> None:
        while not done.is_set():
            peak[0] = max(peak[0], rss_mb(server.pid))
            time.sleep(0.05)

    calls: list[tuple[httpx.Response | None, float]] = []

    def call_meanwhile() -> None:
        with httpx.Client(
            base_url=server.url, timeout=30, headers=server.headers("telephony")
        ) as c:
            n = 0
            while n < 3 or (not done.is_set() and n < 200):  # a few even if refused at once
                calls.append(timed(lambda n=n: c.post("/v1/calls", json=new_call(f"amp-{n}"))))  # type: ignore[misc]
                n += 1
                time.sleep(0.1)

    threads = [threading.Thread(target=sample), threading.Thread(target=call_meanwhile)]
    for thread in threads:
        thread.start()
    started = time.perf_counter()
    reload = ask(server, "POST", "/v1/flows/reload", headers=server.headers("admin"))
    seconds = time.perf_counter() - started
    done.set()
    for thread in threads:
        thread.join()
    on_time = sum(
        r is not None
        and r.status_code == 200
        and s <= DEADLINE_MS / 1000 * 1.1
        and not r.json().get("fallback_reason")
        for r, s in calls
    )
    version = ask(server, "GET", "/healthz")
    after_version = version.json().get("version") if version is not None else None
    return [
        Figure(probe, "reload answer", status(reload), "4xx (refused)", client_error(reload)),
        Figure(
            probe,
            "serving version after the reload",
            "unchanged" if before_version == after_version else "changed",
            "unchanged",
            before_version == after_version,
        ),
        info(probe, "reload seconds", f"{seconds:.1f}"),
        ratio(probe, "server RSS peak / before", peak[0] / max(before, 1.0), 1.5),
        share(probe, "calls meanwhile decided in time, no fallback", on_time, len(calls)),
    ]


def run(quick: bool) -> list[Figure]:
    with tempfile.TemporaryDirectory(prefix="reliability-hostile-") as scratch:
        folder = Path(scratch) / "examples" / "hospital"  # its modules: ../../flows
        shutil.copytree(ROOT / "examples" / "hospital", folder)
        shutil.copytree(ROOT / "flows", Path(scratch) / "flows")
        data = Path(scratch) / "data"
        server = Server(None, deployment=folder, keys=True, env={"ROUTING_DATA_DIR": str(data)})
        try:
            if not server.ready:
                return [info("hostile inputs", "server", f"did not start: {server.log_tail()}")]
            figures = file_modes(data)
            documents = 100_000 if quick else 250_000
            probes: list[Callable[[], list[Figure]]] = [
                *(
                    partial(probe, server)
                    for probe in (deep_json, huge_ids, duplicate_keys, inbox, session_reuse)
                ),
                partial(ssrf, server, folder),
                partial(amplification, server, folder, documents),
            ]
            for probe in probes:
                try:
                    figures += probe()
                except httpx.HTTPError as error:  # the server dropped the request: a finding
                    name = getattr(probe, "func", probe).__name__
                    figures.append(
                        Figure(name, "answered", f"no answer ({error!r})", "an answer", False)
                    )
            errors = server.log_path.read_text(errors="replace").count("Traceback")
            figures.append(count("hostile inputs", "tracebacks in the server's log", errors))
            return figures
        finally:
            server.stop()


if __name__ == "__main__":
    probe_main(run, __doc__)
