"""Delivery channels of notifications: their settings (env or secrets.toml, never the store) and senders.

E-mail goes through SMTP (plain, STARTTLS or SSL); the webhook posts the markdown JSON that WeCom
(企业微信) and DingTalk (钉钉) group robots accept. A sender raises :class:`DeliveryError` with a
message fit for the outbox's "last error" column: it never contains the password or the webhook
URL (whose ``key``/``access_token`` is the secret).

Settings, each an env var ``WORKBENCH_NOTIFY_<KEY>`` (upper case) or ``<key>`` in the ``[notify]``
table of ``.streamlit/secrets.toml`` (the env wins, key by key)::

    smtp_host, smtp_port (25), smtp_sender, smtp_user, smtp_password, smtp_security (none|starttls|ssl),
    webhook_url, webhook_flavor (wecom|dingtalk), webhook_secret (DingTalk 加签), webhook_name ("group")
"""
from __future__ import annotations

import base64
import enum
import hashlib
import hmac
import json
import os
import re
import smtplib
import tomllib
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass, field
from email.message import EmailMessage
from pathlib import Path

from lib.core import clock, config
from lib.core.errors import InvalidArgument, WorkbenchError

ENV_PREFIX = "WORKBENCH_NOTIFY_"
KEYS = ("smtp_host", "smtp_port", "smtp_sender", "smtp_user", "smtp_password", "smtp_security",
        "webhook_url", "webhook_flavor", "webhook_secret", "webhook_name")
TIMEOUT_S = 10.0
# Robots refuse longer messages (WeCom markdown: 4,096 bytes; DingTalk: 20,000): cut, and say so.
MAX_BYTES = {"wecom": 4000, "dingtalk": 19000}


class Security(enum.StrEnum):
    """How the SMTP connection is protected."""

    NONE = "none"
    STARTTLS = "starttls"
    SSL = "ssl"


class Flavor(enum.StrEnum):
    """Which group robot the webhook talks to (their JSON differs)."""

    WECOM = "wecom"
    DINGTALK = "dingtalk"


class DeliveryError(WorkbenchError):
    """One delivery attempt failed; the message is stored as the outbox row's last error."""


@dataclass(frozen=True)
class SmtpConfig:
    host: str
    sender: str
    port: int = 25
    user: str | None = None
    password: str | None = field(default=None, repr=False)
    security: Security = Security.NONE
    timeout_s: float = TIMEOUT_S


@dataclass(frozen=True)
class WebhookConfig:
    url: str = field(repr=False)
    flavor: Flavor = Flavor.WECOM
    secret: str | None = field(default=None, repr=False)
    name: str = "group"     # the outbox's recipient for group messages
    timeout_s: float = TIMEOUT_S


@dataclass(frozen=True)
class Channels:
    """The configured channels; None where a channel is not set up."""

    email: SmtpConfig | None = None
    webhook: WebhookConfig | None = None


def _choice(enum_cls, value: str, key: str):
    try:
        return enum_cls(value.strip().lower())
    except ValueError:
        valid = ", ".join(m.value for m in enum_cls)
        raise InvalidArgument(f"Notification setting {key}={value!r} is not valid. Valid: {valid}.",
                              f"通知设置 {key}={value!r} 无效。可选：{valid}。") from None


def _settings(env: Mapping[str, str], secrets_path: Path) -> dict[str, str]:
    values: dict[str, str] = {}
    if secrets_path.exists():
        with secrets_path.open("rb") as fh:
            section = tomllib.load(fh).get("notify", {})
        values.update({k: str(v).strip() for k, v in section.items() if k in KEYS and str(v).strip()})
    for key in KEYS:
        if env.get(ENV_PREFIX + key.upper(), "").strip():
            values[key] = env[ENV_PREFIX + key.upper()].strip()
    return values


def channels_from_config(env: Mapping[str, str] | None = None, secrets_path: Path | None = None) -> Channels:
    """The channels set up in env vars ``WORKBENCH_NOTIFY_*`` or ``[notify]`` of secrets.toml (env wins)."""
    s = _settings(os.environ if env is None else env, secrets_path or config.SECRETS_FILE)
    email = webhook = None
    if s.get("smtp_host"):
        if not s.get("smtp_sender"):
            raise InvalidArgument("smtp_host is set but smtp_sender (the From address) is not.",
                                  "已设置 smtp_host，但缺少发件人地址 smtp_sender。")
        try:
            port = int(s.get("smtp_port", "25"))
        except ValueError:
            raise InvalidArgument(f"smtp_port={s['smtp_port']!r} is not a port number (e.g. 25, 465, 587).",
                                  f"smtp_port={s['smtp_port']!r} 不是端口号（如 25、465、587）。") from None
        email = SmtpConfig(host=s["smtp_host"], port=port, sender=s["smtp_sender"], user=s.get("smtp_user"),
                           password=s.get("smtp_password"),
                           security=_choice(Security, s.get("smtp_security", "none"), "smtp_security"))
    if s.get("webhook_url"):
        if urllib.parse.urlsplit(s["webhook_url"]).scheme not in ("http", "https"):
            raise InvalidArgument("webhook_url must start with https:// (or http://).",
                                  "webhook_url 必须以 https://（或 http://）开头。")
        webhook = WebhookConfig(url=s["webhook_url"], flavor=_choice(Flavor, s.get("webhook_flavor", "wecom"),
                                                                      "webhook_flavor"),
                                secret=s.get("webhook_secret"), name=s.get("webhook_name", "group"))
    return Channels(email=email, webhook=webhook)


def configured_webhook_name(env: Mapping[str, str] | None = None, secrets_path: Path | None = None) -> str | None:
    """The group robot's recipient name when a webhook URL is set at all, valid or not (None: no webhook)."""
    s = _settings(os.environ if env is None else env, secrets_path or config.SECRETS_FILE)
    return s.get("webhook_name", "group") if s.get("webhook_url") else None


# ---- error text ----------------------------------------------------------------------------------

_URL = re.compile(r"[a-zA-Z][a-zA-Z0-9+.-]*://[^\s'\"<>]+")
_SECRET_PARAM = re.compile(r"(?i)\b(access_token|key|sign|secret|password|token)=[^&\s'\"]+")


def redact(text: str, channels: Channels | None = None) -> str:
    """``text`` fit for the outbox's last error: any URL replaced by ``<url>`` (a robot's URL holds its key),
    secret-looking ``key=…`` parameters and the configured password and webhook secret by ``***``.

    >>> redact("unknown url type: 'htp://x/send?key=K1'")
    "unknown url type: '<url>'"
    >>> redact("bad sign=abc&timestamp=1")
    'bad sign=***&timestamp=1'
    """
    secrets = []
    if channels is not None:
        if channels.email is not None and channels.email.password:
            secrets.append(channels.email.password)
        if channels.webhook is not None:   # the URL, and its path and query alone (http.client quotes those)
            parts = urllib.parse.urlsplit(channels.webhook.url)
            tail = parts.path + (f"?{parts.query}" if parts.query else "")
            secrets += [channels.webhook.url, tail if len(tail) > 1 else "", channels.webhook.secret or ""]
    for secret in sorted((x for x in secrets if x), key=len, reverse=True):
        text = text.replace(secret, "***")
    return _SECRET_PARAM.sub(lambda m: f"{m.group(1)}=***", _URL.sub("<url>", text))


# ---- e-mail ---------------------------------------------------------------------------------------

def email_message(cfg: SmtpConfig, recipient: str, subject: str, body: str) -> EmailMessage:
    """The UTF-8 plain-text message sent to ``recipient``; line breaks in the subject become spaces."""
    msg = EmailMessage()
    msg["From"] = cfg.sender
    msg["To"] = recipient
    msg["Subject"] = " ".join(subject.split())   # a header may not hold a line break (ValueError)
    msg.set_content(body)
    return msg


def send_email(cfg: SmtpConfig, recipient: str, subject: str, body: str) -> None:
    """Send one e-mail; raises DeliveryError (refused, unreachable, rejected recipient, timeout)."""
    msg = email_message(cfg, recipient, subject, body)
    where = f"SMTP {cfg.host}:{cfg.port}"
    try:
        cls = smtplib.SMTP_SSL if cfg.security is Security.SSL else smtplib.SMTP
        with cls(cfg.host, cfg.port, timeout=cfg.timeout_s) as smtp:
            if cfg.security is Security.STARTTLS:
                smtp.starttls()
            if cfg.user:
                smtp.login(cfg.user, cfg.password or "")
            refused = smtp.send_message(msg)
    except smtplib.SMTPResponseException as exc:
        text = exc.smtp_error.decode(errors="replace") if isinstance(exc.smtp_error, bytes) else str(exc.smtp_error)
        raise DeliveryError(f"{where}: {exc.smtp_code} {text}") from exc
    except smtplib.SMTPRecipientsRefused as exc:
        codes = "; ".join(f"{code} {msg.decode(errors='replace') if isinstance(msg, bytes) else msg}"
                          for code, msg in exc.recipients.values())
        raise DeliveryError(f"{where}: recipient refused: {codes}") from exc
    except (smtplib.SMTPException, OSError) as exc:
        raise DeliveryError(f"{where}: {type(exc).__name__}: {exc}") from exc
    if refused:
        raise DeliveryError(f"{where}: recipient refused: {', '.join(refused)}")


# ---- webhook --------------------------------------------------------------------------------------

def _cut(text: str, max_bytes: int) -> str:
    data = text.encode()
    if len(data) <= max_bytes:
        return text
    return data[:max_bytes - 8].decode(errors="ignore") + "\n\n……"


def webhook_payload(flavor: Flavor, subject: str, body: str) -> dict:
    """The robot's JSON for a markdown message: a heading with the subject, then the body.

    >>> webhook_payload(Flavor.WECOM, "S", "b")
    {'msgtype': 'markdown', 'markdown': {'content': '### S\\n\\nb'}}
    >>> webhook_payload(Flavor.DINGTALK, "S", "b")
    {'msgtype': 'markdown', 'markdown': {'title': 'S', 'text': '### S\\n\\nb'}}
    """
    flavor = Flavor(flavor)
    text = _cut(f"### {subject}\n\n{body}", MAX_BYTES[flavor.value])
    if flavor is Flavor.WECOM:
        return {"msgtype": "markdown", "markdown": {"content": text}}
    return {"msgtype": "markdown", "markdown": {"title": subject, "text": text}}


def dingtalk_signed_url(url: str, secret: str, timestamp_ms: int) -> str:
    """The URL with DingTalk's 加签 parameters: base64(HMAC-SHA256(secret, "<timestamp>\\n<secret>"))."""
    digest = hmac.new(secret.encode(), f"{timestamp_ms}\n{secret}".encode(), hashlib.sha256).digest()
    sign = urllib.parse.quote_plus(base64.b64encode(digest).decode())
    return f"{url}{'&' if '?' in url else '?'}timestamp={timestamp_ms}&sign={sign}"


def post_webhook(cfg: WebhookConfig, subject: str, body: str) -> None:
    """Post one message; HTTP status other than 200 or a JSON ``errcode`` other than 0 raises DeliveryError."""
    url = cfg.url
    if cfg.flavor is Flavor.DINGTALK and cfg.secret:
        url = dingtalk_signed_url(url, cfg.secret, clock.epoch_ms())
    data = json.dumps(webhook_payload(cfg.flavor, subject, body), ensure_ascii=False).encode()
    req = urllib.request.Request(url, data=data, method="POST",
                                 headers={"Content-Type": "application/json; charset=utf-8"})
    where = f"webhook ({cfg.flavor.value})"   # never the URL: its key is the secret
    try:
        with urllib.request.urlopen(req, timeout=cfg.timeout_s) as resp:
            status, raw = resp.status, resp.read(65536)
    except urllib.error.HTTPError as exc:
        raise DeliveryError(f"{where}: HTTP {exc.code} {exc.reason}") from None
    except (urllib.error.URLError, OSError) as exc:
        reason = exc.reason if isinstance(exc, urllib.error.URLError) else exc
        raise DeliveryError(f"{where}: unreachable: {reason}") from None
    if status != 200:
        raise DeliveryError(f"{where}: HTTP {status}")
    try:
        answer = json.loads(raw.decode() or "{}")
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise DeliveryError(f"{where}: the answer is not JSON: {raw[:100]!r}") from None
    code = answer.get("errcode", 0) if isinstance(answer, dict) else 0
    if code not in (0, "0"):
        raise DeliveryError(f"{where}: errcode {code}: {answer.get('errmsg', '')}")
