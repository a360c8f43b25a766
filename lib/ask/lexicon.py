"""What finance teaches the question box about a dimension: its synonyms and its members' aliases.

Saved like a metric edit: every save is the dimension's next version (who, when, why), the YAML's synonyms
are version 0, and restoring an old version writes it again. Metric synonyms are a field of the metric and
are saved with it (``lib.semantic.metric_store``). Also here: each user's recent questions.
"""
from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass

import sqlalchemy as sa

from lib.access import audit
from lib.core import clock
from lib.core.errors import WorkbenchError
from lib.core.tables.ask import ask_recent, vocabulary_version
from lib.semantic.model import SemanticModel

RECENT_KEPT = 20
MAX_WORD = 50
MAX_WORDS = 2000


@dataclass(frozen=True)
class Version:
    dimension_id: str
    version: int
    definition: dict          # {"synonyms": [...], "aliases": {member: [...]}}
    action: str
    author: str
    note: str | None
    created_at: object


def latest(engine: sa.Engine) -> dict[str, dict]:
    """The current saved definition of every dimension that has one."""
    v = vocabulary_version.c
    top = sa.select(v.dimension_id, sa.func.max(v.version).label("n")).group_by(v.dimension_id).subquery()
    stmt = sa.select(v.dimension_id, v.definition).join(
        top, sa.and_(top.c.dimension_id == v.dimension_id, top.c.n == v.version))
    with engine.connect() as conn:
        return {d: json.loads(text) for d, text in conn.execute(stmt).all()}


def history(engine: sa.Engine, dimension_id: str, model: SemanticModel) -> list[Version]:
    """Every version, newest first; version 0 is the YAML's synonyms."""
    v = vocabulary_version.c
    with engine.connect() as conn:
        rows = conn.execute(sa.select(vocabulary_version).where(v.dimension_id == dimension_id)
                            .order_by(v.version.desc())).all()
    out = [Version(r.dimension_id, r.version, json.loads(r.definition), r.action, r.author, r.note, r.created_at)
           for r in rows]
    dim = model.dimension(dimension_id)
    out.append(Version(dimension_id, 0, {"synonyms": list(dim.synonyms), "aliases": {}}, "seed", "data/semantic",
                       None, None))
    return out


def current(engine: sa.Engine, dimension_id: str, model: SemanticModel) -> dict:
    return history(engine, dimension_id, model)[0].definition


def _words(raw: object, what_en: str, what_zh: str) -> list[str]:
    if not isinstance(raw, (list, tuple)) or not all(isinstance(x, str) for x in raw):
        raise WorkbenchError(f"{what_en} must be a list of words.", f"{what_zh}须为词语列表。")
    out = list(dict.fromkeys(x.strip() for x in raw if x.strip()))
    long = [x for x in out if len(x) > MAX_WORD]
    if long:
        raise WorkbenchError(f"A word is at most {MAX_WORD} characters: {long[0][:60]}…",
                             f"每个词最多 {MAX_WORD} 个字符：{long[0][:60]}…")
    return out


def clean(definition: Mapping) -> dict:
    """A definition checked and tidied: distinct non-blank words; a word names one member of the dimension."""
    if not isinstance(definition, Mapping):
        raise WorkbenchError("A vocabulary is {synonyms, aliases}.", "词汇定义须包含同义词和别名。")
    synonyms = _words(definition.get("synonyms", []), "Synonyms", "同义词")
    aliases_raw = definition.get("aliases", {})
    if not isinstance(aliases_raw, Mapping):
        raise WorkbenchError("Aliases are member → words.", "别名须为“成员 → 词语”。")
    aliases: dict[str, list[str]] = {}
    owner: dict[str, str] = {}
    for member, words in aliases_raw.items():
        if not isinstance(member, str) or not member.strip():
            raise WorkbenchError("An alias needs its member.", "别名需要对应的成员。")
        kept = _words(words, f"Aliases of {member}", f"“{member}”的别名")
        for word in kept:
            if owner.get(word.lower(), member.strip()) != member.strip():
                raise WorkbenchError(f"“{word}” is given to two members: {owner[word.lower()]} and {member}.",
                                     f"“{word}”同时是“{owner[word.lower()]}”和“{member}”的别名。")
            owner[word.lower()] = member.strip()
        if kept:
            aliases[member.strip()] = kept
    if len(synonyms) + sum(map(len, aliases.values())) > MAX_WORDS:
        raise WorkbenchError(f"At most {MAX_WORDS} words per dimension.", f"每个维度最多 {MAX_WORDS} 个词。")
    return {"synonyms": synonyms, "aliases": aliases}


def parse_aliases(text: str) -> dict[str, list[str]]:
    """The metric center's alias box: one member per line, ``member: word, word``.

    >>> parse_aliases("华东大区: 东区, East China\\n\\n西部大区：西区")
    {'华东大区': ['东区', 'East China'], '西部大区': ['西区']}
    """
    out: dict[str, list[str]] = {}
    for n, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        member, sep, words = line.replace("：", ":").partition(":")
        if not sep or not member.strip():
            raise WorkbenchError(f"Line {n}: write “member: word, word”.", f"第 {n} 行：请写成“成员: 别名, 别名”。")
        out.setdefault(member.strip(), []).extend(x.strip() for x in words.replace("，", ",").replace("、", ",").split(","))
    return out


def save(engine: sa.Engine, dimension_id: str, definition: Mapping, author: str, model: SemanticModel,
         note: str = "", user=None, action: str = "edit") -> Version:
    """Store ``definition`` as the dimension's next version; with ``user``, the role must allow metric edits."""
    if user is not None:
        from lib.access import auth
        auth.require(auth.load_user(engine, user.username), "edit_metrics")
    model.dimension(dimension_id)
    if not author.strip():
        raise WorkbenchError("An edit needs its author.", "修改需要注明修改人。")
    stored = clean(definition)
    v = vocabulary_version.c
    with engine.begin() as conn:
        n = (conn.execute(sa.select(sa.func.max(v.version)).where(v.dimension_id == dimension_id)).scalar() or 0) + 1
        now = clock.now()
        conn.execute(vocabulary_version.insert().values(
            dimension_id=dimension_id, version=n, definition=json.dumps(stored, ensure_ascii=False, sort_keys=True),
            action=action, author=author.strip(), note=note.strip() or None, created_at=now))
        audit.record(conn, user.username if user is not None else author.strip(), "vocabulary_edit", dimension_id,
                     {"version": n, "note": note.strip() or None}, "metric center" if user is not None else "cli")
    return Version(dimension_id, n, stored, action, author.strip(), note.strip() or None, now)


def restore(engine: sa.Engine, dimension_id: str, version: int, author: str, model: SemanticModel,
            user=None) -> Version:
    old = next((x for x in history(engine, dimension_id, model) if x.version == version), None)
    if old is None:
        raise WorkbenchError(f"Dimension '{dimension_id}' has no vocabulary version {version}.",
                             f"维度“{dimension_id}”没有词汇版本 {version}。")
    return save(engine, dimension_id, old.definition, author, model, note=f"restore version {version}", user=user,
                action="restore")


# ---- recent questions ------------------------------------------------------------------------

def remember(engine: sa.Engine, username: str, question: str) -> None:
    """Keep the question as the user's newest; only the latest RECENT_KEPT are kept."""
    q = question.strip()[:500]
    if not q:
        return
    r = ask_recent.c
    with engine.begin() as conn:
        conn.execute(ask_recent.delete().where(r.username == username, r.question == q))
        conn.execute(ask_recent.insert().values(username=username, question=q, asked_at=clock.now_precise()))
        old = conn.execute(sa.select(r.question).where(r.username == username).order_by(r.asked_at.desc())
                           .offset(RECENT_KEPT)).scalars().all()
        if old:
            conn.execute(ask_recent.delete().where(r.username == username, r.question.in_(old)))


def recent(engine: sa.Engine, username: str, n: int = 8) -> list[str]:
    r = ask_recent.c
    with engine.connect() as conn:
        return list(conn.execute(sa.select(r.question).where(r.username == username)
                                 .order_by(r.asked_at.desc()).limit(n)).scalars())
