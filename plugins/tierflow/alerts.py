"""Failure and late-delivery alerts: a webhook and e-mail, configured by Airflow connections.

- ``tierflow_alert_webhook`` (HTTP): ``host`` (+ ``schema`` http/https, ``port``), extra
  ``{"endpoint": "/hooks/tierflow", "headers": {...}}``; login/password become basic auth.
- ``tierflow_smtp`` (SMTP, the smtp provider's connection): the server, and in extra
  ``{"from_email": "...", "alert_to": "ops@example.org, data@example.org"}``.

Wiring (DAG files stay thin; see the report of issue 6):
- ``default_args["on_failure_callback"] = failure_notifiers()``
- the delivery sensor: ``on_skipped_callback=missing_delivery_notifiers(dataset_id)``
- the ingest DAG: ``deadline=delivery_deadline(dataset_id)``

Notifiers never raise into the task: an unreachable webhook is logged by Airflow's callback
runner, and the other notifier still runs.
"""

from __future__ import annotations

import asyncio
import base64
import json
import urllib.request
from typing import TYPE_CHECKING, Any

from airflow.providers.smtp.notifications.smtp import SmtpNotifier
from airflow.sdk import AsyncCallback, BaseNotifier, DeadlineAlert, DeadlineReference

from tierflow.settings import settings

if TYPE_CHECKING:
    import datetime as dt
    from collections.abc import Iterable, Sequence

WEBHOOK_CONN_ID = "tierflow_alert_webhook"
SMTP_CONN_ID = "tierflow_smtp"

FAILURE_TEXT = (
    "tierflow: task {{ ti.task_id }} of {{ ti.dag_id }} failed "
    "(run {{ run_id }}, try {{ ti.try_number }})"
)
FAILURE_HTML = (
    "<p>Task <b>{{ ti.task_id }}</b> of DAG <b>{{ ti.dag_id }}</b> failed.</p>"
    "<p>Run: {{ run_id }}<br>Try: {{ ti.try_number }}<br>"
    "Exception: <code>{{ exception }}</code></p>"
)


# --- the transports ---------------------------------------------------------------------------


def _get_connection(conn_id: str) -> Any:
    from airflow.sdk import BaseHook

    return BaseHook.get_connection(conn_id)


def webhook_target(conn: Any) -> tuple[str, dict[str, str]]:
    """URL and headers from an HTTP connection (host may already carry the scheme)."""
    extra = conn.extra_dejson or {}
    host = conn.host or ""
    if "://" not in host:
        host = f"{conn.schema or 'http'}://{host}"
    if conn.port:
        host = f"{host.rstrip('/')}:{conn.port}"
    endpoint = str(extra.get("endpoint", ""))
    url = host.rstrip("/") + ("/" + endpoint.lstrip("/") if endpoint else "")
    headers = {
        "Content-Type": "application/json",
        **{k: str(v) for k, v in extra.get("headers", {}).items()},
    }
    if conn.login:
        token = base64.b64encode(f"{conn.login}:{conn.password or ''}".encode()).decode()
        headers["Authorization"] = f"Basic {token}"
    return url, headers


def post_webhook(
    payload: dict[str, Any], *, conn_id: str = WEBHOOK_CONN_ID, timeout: float = 10.0
) -> int:
    """POST ``payload`` as JSON to the webhook connection; returns the HTTP status."""
    url, headers = webhook_target(_get_connection(conn_id))
    body = json.dumps(payload, default=str, ensure_ascii=False).encode("utf-8")
    request = urllib.request.Request(url, data=body, headers=headers, method="POST")
    with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310 - URL from a connection
        return int(response.status)


def _context_summary(context: dict[str, Any]) -> dict[str, Any]:
    """The identifying bits of a task, DAG-run or deadline context, as plain JSON values."""
    ti = context.get("ti") or context.get("task_instance")
    dag_run = context.get("dag_run")
    summary: dict[str, Any] = {}
    if ti is not None:
        summary |= {
            "dag_id": getattr(ti, "dag_id", None),
            "task_id": getattr(ti, "task_id", None),
            "try_number": getattr(ti, "try_number", None),
            "state": str(getattr(ti, "state", "") or ""),
        }
    if isinstance(dag_run, dict):  # deadline callbacks get the DAG run as a dict
        summary |= {"dag_id": dag_run.get("dag_id"), "run_id": dag_run.get("dag_run_id")}
        summary["logical_date"] = dag_run.get("logical_date")
    elif dag_run is not None:
        summary |= {
            "dag_id": getattr(dag_run, "dag_id", None),
            "run_id": getattr(dag_run, "run_id", None),
        }
    if "run_id" in context:
        summary["run_id"] = context["run_id"]
    if context.get("exception") is not None:
        summary["exception"] = str(context["exception"])
    if isinstance(context.get("deadline"), dict):
        summary["deadline"] = context["deadline"].get("deadline_time")
    return {k: v for k, v in summary.items() if v is not None}


# --- notifiers (Airflow's callback mechanism) -------------------------------------------------


class WebhookNotifier(BaseNotifier):
    """Posts ``{"text": ..., "event": ..., "dag_id": ..., ...}`` to an HTTP connection.

    Usable as ``on_failure_callback`` (sync, ``notify``) and awaited by the triggerer for
    Deadline Alerts (``async_notify``).
    """

    template_fields = ("text", "event", "fields", "conn_id")

    def __init__(
        self,
        text: str = FAILURE_TEXT,
        *,
        event: str = "task_failed",
        fields: dict[str, Any] | None = None,
        conn_id: str = WEBHOOK_CONN_ID,
        timeout: float = 10.0,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)  # the triggerer passes context= here
        self.text = text
        self.event = event
        self.fields = fields or {}
        self.conn_id = conn_id
        self.timeout = timeout

    def payload(self, context: dict[str, Any]) -> dict[str, Any]:
        return {"text": self.text, "event": self.event, **_context_summary(context), **self.fields}

    def notify(self, context: Any) -> None:
        post_webhook(self.payload(dict(context)), conn_id=self.conn_id, timeout=self.timeout)

    async def async_notify(self, context: Any) -> None:
        # urllib blocks; keep the triggerer's event loop free
        await asyncio.to_thread(self.notify, context)


class AlertEmailNotifier(SmtpNotifier):
    """The smtp provider's notifier, with recipients from the connection's ``alert_to`` extra.

    Reading them at send time keeps DAG parsing free of connection look-ups.
    """

    def __init__(self, to: str | Iterable[str] | None = None, **kwargs: Any) -> None:
        kwargs.setdefault("smtp_conn_id", SMTP_CONN_ID)
        super().__init__(to=to or [], **kwargs)

    def _resolve_recipients(self) -> None:
        if self.to:
            return
        extra = _get_connection(self.smtp_conn_id).extra_dejson or {}
        recipients = extra.get("alert_to") or settings().alert_email_to
        if isinstance(recipients, str):
            recipients = [r.strip() for r in recipients.replace(";", ",").split(",") if r.strip()]
        if not recipients:
            raise ValueError(
                f"no alert recipients: set extra.alert_to on connection {self.smtp_conn_id!r}"
            )
        self.to = list(recipients)

    def notify(self, context: Any) -> None:
        self._resolve_recipients()
        super().notify(context)

    async def async_notify(self, context: Any) -> None:
        self._resolve_recipients()
        # the provider's async path needs aiosmtplib TLS settings; the sync one is proven here
        await asyncio.to_thread(super().notify, context)


def failure_notifiers(email_to: str | Sequence[str] | None = None) -> list[BaseNotifier]:
    """For ``default_args["on_failure_callback"]``: webhook + e-mail on every failed task."""
    return [
        WebhookNotifier(FAILURE_TEXT, event="task_failed"),
        AlertEmailNotifier(
            to=email_to,
            subject="[tierflow] {{ ti.dag_id }}.{{ ti.task_id }} failed",
            html_content=FAILURE_HTML,
        ),
    ]


def _late_text(dataset_id: str, due: str, what: str) -> str:
    return f"tierflow: delivery of {dataset_id} (due {due} Asia/Shanghai) is {what}"


def missing_delivery_notifiers(dataset_id: str, due: str = "") -> list[BaseNotifier]:
    """For the delivery sensor's ``on_skipped_callback``: it gave up waiting (soft_fail)."""
    text = _late_text(dataset_id, due or "{{ logical_date }}", "missing: the sensor gave up")
    fields = {"dataset": dataset_id}
    return [
        WebhookNotifier(text, event="delivery_missing", fields=fields),
        AlertEmailNotifier(
            subject=f"[tierflow] {dataset_id}: delivery missing", html_content=f"<p>{text}</p>"
        ),
    ]


# --- late deliveries: Deadline Alerts ---------------------------------------------------------


async def late_delivery_alert(
    dataset_id: str,
    due: str,
    *,
    webhook_conn_id: str = WEBHOOK_CONN_ID,
    smtp_conn_id: str = SMTP_CONN_ID,
    context: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Deadline callback (runs in the triggerer): the ingest run is still waiting past its due."""
    context = context or {}
    text = _late_text(dataset_id, due, "late: not ingested by its deadline")
    sent: dict[str, Any] = {"dataset": dataset_id, "webhook": None, "email": None}
    errors: list[str] = []
    webhook = WebhookNotifier(
        text,
        event="delivery_late",
        fields={"dataset": dataset_id, "due": due},
        conn_id=webhook_conn_id,
    )
    email = AlertEmailNotifier(
        smtp_conn_id=smtp_conn_id,
        subject=f"[tierflow] {dataset_id}: delivery late",
        html_content=f"<p>{text}</p><p>{json.dumps(_context_summary(context), default=str)}</p>",
    )
    for name, notifier in (("webhook", webhook), ("email", email)):
        try:  # one channel down must not silence the other
            await notifier.async_notify(context)
            sent[name] = "sent"
        except Exception as exc:  # noqa: BLE001 - reported in the result and the log
            errors.append(f"{name}: {exc}")
            sent[name] = f"failed: {exc}"
    if errors and sent["webhook"] != "sent" and sent["email"] != "sent":
        raise RuntimeError("; ".join(errors))
    return sent


def notify_late_delivery(dataset_id: str, due: str, **kwargs: Any) -> dict[str, Any]:
    """The same alert as a plain call (CLI, tests, a delivery audit job)."""
    return asyncio.run(late_delivery_alert(dataset_id, due, **kwargs))


def delivery_deadline(
    dataset_id: str, grace: dt.timedelta | None = None, *, due: str | None = None
) -> DeadlineAlert:
    """A Deadline Alert for an ingest DAG: alert when its run has not finished ``grace`` after due.

    The ingest DAGs run on a ``CronTriggerTimetable`` at the due time, so the run's logical
    date *is* the due time and the deadline is ``logical_date + grace`` — the grace of the
    one delivery calendar (``tierflow.quality.calendar``) unless given.
    """
    from tierflow.quality.calendar import grace as calendar_grace

    grace = grace if grace is not None else calendar_grace()
    if due is None:
        from tierflow.contracts import catalog
        from tierflow.quality.calendar import responsibility_for

        cat = catalog()
        entry = responsibility_for(cat, cat.dataset(dataset_id))
        due = f"{entry.frequency.value} {entry.due_time}" if entry else "scheduled time"
    return DeadlineAlert(
        reference=DeadlineReference.DAGRUN_LOGICAL_DATE,
        interval=grace,
        callback=AsyncCallback(late_delivery_alert, kwargs={"dataset_id": dataset_id, "due": due}),
        name=f"late delivery {dataset_id}",
    )
