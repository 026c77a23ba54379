"""Alerts reach a real HTTP endpoint and a real SMTP server, both started here on 127.0.0.1.

Connections come from ``AIRFLOW_CONN_*`` variables, the way a deployment configures them.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import email
import json
import socketserver
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from collections.abc import Iterator
    from email.message import Message


class _Hook(BaseHTTPRequestHandler):
    received: list[dict[str, Any]]

    def do_POST(self) -> None:  # noqa: N802 - http.server's naming
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.server.received.append(  # type: ignore[attr-defined]
            {"path": self.path, "headers": dict(self.headers), "json": json.loads(body)}
        )
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args: Any) -> None:  # keep pytest output clean
        pass


class _Smtp(socketserver.StreamRequestHandler):
    """Just enough SMTP (RFC 5321, no extensions) to accept a message from smtplib."""

    def _reply(self, line: str) -> None:
        self.wfile.write(f"{line}\r\n".encode())

    def handle(self) -> None:
        self._reply("220 tierflow-test ESMTP")
        envelope: dict[str, Any] = {"rcpt": []}
        while line := self.rfile.readline().decode("utf-8", "replace").rstrip("\r\n"):
            verb = line.split(" ", 1)[0].upper()
            if verb in ("EHLO", "HELO"):
                self._reply("250 tierflow-test")
            elif verb == "MAIL":
                envelope["from"] = line.split(":", 1)[1].strip()
                self._reply("250 OK")
            elif verb == "RCPT":
                envelope["rcpt"].append(line.split(":", 1)[1].strip().strip("<>"))
                self._reply("250 OK")
            elif verb == "DATA":
                self._reply("354 end with .")
                data = []
                while (chunk := self.rfile.readline()) not in (b".\r\n", b".\n", b""):
                    data.append(chunk[1:] if chunk.startswith(b"..") else chunk)
                envelope["message"] = email.message_from_bytes(b"".join(data))
                self.server.received.append(envelope)  # type: ignore[attr-defined]
                envelope = {"rcpt": []}
                self._reply("250 queued")
            elif verb == "QUIT":
                self._reply("221 bye")
                return
            else:
                self._reply("250 OK")


def _serve(server: socketserver.BaseServer) -> threading.Thread:
    server.received = []  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    return thread


@pytest.fixture()
def endpoints(monkeypatch: pytest.MonkeyPatch) -> Iterator[SimpleNamespace]:
    http = ThreadingHTTPServer(("127.0.0.1", 0), _Hook)
    smtp = socketserver.ThreadingTCPServer(("127.0.0.1", 0), _Smtp)
    smtp.daemon_threads = True
    _serve(http)
    _serve(smtp)
    monkeypatch.setenv(
        "AIRFLOW_CONN_TIERFLOW_ALERT_WEBHOOK",
        json.dumps(
            {
                "conn_type": "http",
                "host": "127.0.0.1",
                "port": http.server_address[1],
                "login": "ops",
                "password": "s3cret",
                "extra": {"endpoint": "/hooks/tierflow", "headers": {"X-Source": "tierflow"}},
            }
        ),
    )
    monkeypatch.setenv(
        "AIRFLOW_CONN_TIERFLOW_SMTP",
        json.dumps(
            {
                "conn_type": "smtp",
                "host": "127.0.0.1",
                "port": smtp.server_address[1],
                "extra": {
                    "disable_tls": True,
                    "disable_ssl": True,
                    "from_email": "airflow@tierflow.local",
                    "alert_to": "ops@tierflow.local, data@tierflow.local",
                    "retry_limit": 0,
                },
            }
        ),
    )
    try:
        yield SimpleNamespace(hooks=http.received, mails=smtp.received)  # type: ignore[attr-defined]
    finally:
        http.shutdown()
        smtp.shutdown()
        http.server_close()
        smtp.server_close()


def _body(message: Message) -> str:
    parts = message.walk() if message.is_multipart() else [message]
    return "".join(
        p.get_payload(decode=True).decode(p.get_content_charset() or "utf-8")
        for p in parts
        if p.get_content_maintype() == "text"
    )


def _failure_context() -> dict[str, Any]:
    ti = SimpleNamespace(
        dag_id="ingest__samr_enterprise", task_id="ingest", try_number=3, state="failed"
    )
    return {
        "ti": ti,
        "task_instance": ti,
        "run_id": "scheduled__2026-03-10",
        "exception": ValueError("boom"),
    }


@pytest.mark.unit
def test_failure_notifiers_post_the_webhook_and_send_mail(endpoints):
    from tierflow.alerts import failure_notifiers

    for notifier in failure_notifiers():
        notifier(_failure_context())  # how Airflow calls an on_failure_callback notifier

    (hook,) = endpoints.hooks
    assert hook["path"] == "/hooks/tierflow"
    assert hook["headers"]["X-Source"] == "tierflow"
    assert hook["headers"]["Authorization"].startswith("Basic ")
    assert hook["json"]["event"] == "task_failed"
    assert hook["json"]["text"] == (
        "tierflow: task ingest of ingest__samr_enterprise failed (run scheduled__2026-03-10, try 3)"
    )
    assert hook["json"]["exception"] == "boom"
    (mail,) = endpoints.mails
    assert mail["rcpt"] == ["ops@tierflow.local", "data@tierflow.local"]
    assert mail["message"]["Subject"] == "[tierflow] ingest__samr_enterprise.ingest failed"
    assert "boom" in _body(mail["message"])


@pytest.mark.unit
def test_late_delivery_alert_as_a_plain_call(endpoints):
    from tierflow.alerts import notify_late_delivery

    result = notify_late_delivery("samr.enterprise", "daily 06:30")
    assert result == {"dataset": "samr.enterprise", "webhook": "sent", "email": "sent"}
    (hook,) = endpoints.hooks
    assert hook["json"]["event"] == "delivery_late" and hook["json"]["dataset"] == "samr.enterprise"
    (mail,) = endpoints.mails
    assert mail["message"]["Subject"] == "[tierflow] samr.enterprise: delivery late"


@pytest.mark.unit
def test_one_channel_down_does_not_silence_the_other(endpoints, monkeypatch):
    from tierflow.alerts import notify_late_delivery

    monkeypatch.setenv(
        "AIRFLOW_CONN_TIERFLOW_ALERT_WEBHOOK",
        json.dumps({"conn_type": "http", "host": "127.0.0.1", "port": 9}),  # discard port: refused
    )
    result = notify_late_delivery("psb.household", "daily 06:00")
    assert result["email"] == "sent" and result["webhook"].startswith("failed")
    assert len(endpoints.mails) == 1


@pytest.mark.unit
def test_delivery_deadline_runs_through_airflows_callback_trigger(endpoints):
    """The Deadline Alert's callback, run the way the triggerer runs it on a missed deadline."""
    from airflow.sdk import DeadlineAlert
    from airflow.triggers.callback import CallbackTrigger

    from tierflow.alerts import delivery_deadline

    alert = delivery_deadline("samr.enterprise")
    assert isinstance(alert, DeadlineAlert)
    assert alert.interval == dt.timedelta(minutes=30)
    assert alert.callback.path == "tierflow.alerts.late_delivery_alert"
    assert alert.callback.kwargs == {"dataset_id": "samr.enterprise", "due": "daily 06:30"}
    context = {
        "dag_run": {
            "dag_id": "ingest__samr_enterprise",
            "dag_run_id": "scheduled__x",
            "logical_date": "2026-03-10T06:30:00+08:00",
        },
        "deadline": {"id": "d1", "deadline_time": "2026-03-10T07:00:00+08:00"},
    }
    trigger = CallbackTrigger(alert.callback.path, dict(alert.callback.kwargs, context=context))

    async def events() -> list[Any]:
        return [event async for event in trigger.run()]

    states = [e.payload["state"] for e in asyncio.run(events())]
    assert states[-1] == "success", states
    (hook,) = endpoints.hooks
    assert hook["json"]["dag_id"] == "ingest__samr_enterprise"
    assert hook["json"]["deadline"] == "2026-03-10T07:00:00+08:00"
    assert len(endpoints.mails) == 1


@pytest.mark.unit
def test_a_dag_with_the_alerts_serialises():
    """What the lead wires into the DAGs must survive DAG serialisation (the dag-processor)."""
    from airflow.sdk import DAG
    from airflow.serialization.serialized_objects import DagSerialization

    from tierflow.alerts import delivery_deadline, failure_notifiers

    with DAG(
        "alerts_probe",
        schedule=None,
        default_args={"on_failure_callback": failure_notifiers()},
        deadline=delivery_deadline("samr.enterprise"),
    ) as dag:
        from airflow.providers.standard.operators.empty import EmptyOperator

        EmptyOperator(task_id="noop")
    serialised = DagSerialization.to_dict(dag)
    assert "deadline" in json.dumps(serialised)
