"""Local secrets a first start needs: the log-in cookie key, in the git-ignored .streamlit/secrets.toml.

Generated when absent (``make run`` → ``lib.cli init``); an environment variable wins, for servers.
"""
from __future__ import annotations

import os
import secrets
import tomllib

from lib.core import config
from lib.core.errors import WorkbenchError

ENV = "WORKBENCH_COOKIE_KEY"


def cookie_key() -> str:
    """The cookie signing key: env ``WORKBENCH_COOKIE_KEY``, else secrets.toml ``[auth] cookie_key``."""
    key = os.environ.get(ENV, "").strip()
    if not key and config.SECRETS_FILE.exists():
        with config.SECRETS_FILE.open("rb") as fh:
            key = str(tomllib.load(fh).get("auth", {}).get("cookie_key", "")).strip()
    if len(key) < 32:
        raise WorkbenchError(
            "No log-in cookie key (32+ characters). Run `make run` or `python -m lib.cli init`, which write one to "
            f".streamlit/secrets.toml, or set {ENV}.",
            f"缺少登录 Cookie 密钥（至少32个字符）。请运行 `make run` 或 `python -m lib.cli init`（会写入 "
            f".streamlit/secrets.toml），或设置环境变量 {ENV}。")
    return key


def ensure_cookie_key() -> bool:
    """Write a random key to secrets.toml when neither the env nor the file has one; True if written."""
    try:
        cookie_key()
        return False
    except WorkbenchError:
        pass
    path = config.SECRETS_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    existing = path.read_text(encoding="utf-8") if path.exists() else ""
    if "[auth]" in existing:
        raise WorkbenchError(f"{path} has an [auth] section without a usable cookie_key: fix it by hand.",
                             f"{path} 中的 [auth] 没有可用的 cookie_key，请手工修正。")
    block = f'\n[auth]\n# Signs log-in cookies. Generated locally; never commit this file.\ncookie_key = "{secrets.token_hex(32)}"\n'
    # Created readable by the owner only, before the key is written into it.
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.chmod(path, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(existing + block)
    return True
