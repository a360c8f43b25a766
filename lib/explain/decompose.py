"""The arithmetic of an explanation: members' contributions that add up to the change, and a dimension's score.

Pure functions over leaf values (one row per member, one column per leaf, for each period).

**Linear metrics** (Σ c_k · leaf_k): member i contributes Σ c_k · (leaf_k,i,1 − leaf_k,i,0), its own change.

**Ratios** R = s · N / D: with n_i = s · N_i (s the period's scalar, 1 for most ratios), weight
w_i = D_i / D and rate r_i = n_i / D_i, so that R = Σ w_i · r_i,

- mix effect   = (w_i1 − w_i0) · (r_i0 − R0)
- rate effect  = n_i1 / D1 − n_i0 / D0 − (w_i1 − w_i0) · R0 − mix  ( = w_i1 · (r_i1 − r_i0) when D_i1 ≠ 0 )

(GLOSSARY.md). Summed over the members, rate + mix = Σ n_i1/D1 − Σ n_i0/D0 = R1 − R0 exactly whenever the
members add up to the total. A member new in period 1 takes r_i0 := R0 (all rate); a member gone has
w_i1 = 0 (all mix); a member with numerator but no denominator (returns with no sales) keeps the identity
through the general form. Distinct counts (orders, customers) do not add up over members: what the members
leave over is shown as its own row, OVERLAP ("counted in several members"), so the bars still sum to the change.

**Which dimension explains it** follows Adtributor (Bhagwan et al., NSDI 2014), on the movement rather
than the net change: a member's explanatory power EP_i = |contribution_i| / Σ_j |contribution_j| (members
moving in opposite directions can leave a small net change; each still moved), its surprise the
Jensen–Shannon divergence between its share of each leaf before and after. Per dimension the most
surprising members with EP ≥ 10 % are taken until they explain 2/3 of the movement (at most three); such
dimensions come first, by the surprise of the members taken; the others follow by what their three largest
members explain. A dimension of many small members (customers, products) explains little this way; one
where a member's share jumped (a department's advertising) explains much.
"""
from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import pandas as pd

from lib.explain.forms import Form, Linear, Ratio

OTHER = "__other__"
OVERLAP = "__overlap__"
T_EP = 0.10       # a member explaining less than this is not a cause on its own
T_EEP = 2 / 3     # a dimension explains the change when a few members explain this much of it
MAX_CAUSES = 3
MAX_MEMBERS = 10
SUPPORT = 0.01    # members below this share of Σ|contribution| (and beyond the top ones) are grouped as 其他


@dataclass(frozen=True)
class Member:
    member: object
    """The member's value (None: blank), OTHER or OVERLAP."""
    contribution: float
    current: float | None = None
    """The metric's value for the member (its own ratio for ratios)."""
    base: float | None = None
    rate_effect: float | None = None
    mix_effect: float | None = None
    count: int = 1
    """Members grouped in OTHER."""
    surprise: float = 0.0

    @property
    def kind(self) -> str:
        return {OTHER: "other", OVERLAP: "overlap"}.get(self.member, "member") if isinstance(self.member, str) \
            else "member"


@dataclass(frozen=True)
class Score:
    score: float
    explained: float
    """Share of the change the members taken explain (EP summed)."""
    causes: tuple[object, ...]
    """The members taken, most surprising first."""
    qualified: bool


def value(f: Form, leaves: Mapping[str, float]) -> float | None:
    """The metric's value from its leaves' values (None when a ratio's denominator is 0)."""
    if isinstance(f, Linear):
        return _total(f, leaves)
    d = _total(f.denominator, leaves)
    if d == 0:
        return None
    s = float(leaves.get(f.scale, 0.0) or 0.0) if f.scale else 1.0
    return s * _total(f.numerator, leaves) / d


def _total(x: Linear, totals: Mapping[str, float]) -> float:
    return sum(c * float(totals.get(k, 0.0) or 0.0) for k, c in x.terms)


def _lin(x: Linear, frame: pd.DataFrame) -> pd.Series:
    out = pd.Series(0.0, index=frame.index)
    for k, c in x.terms:
        out = out + c * frame[k]
    return out


def _js(p: float, q: float) -> float:
    """A member's term of the Jensen–Shannon divergence between shares p (before) and q (after)."""
    m = (p + q) / 2
    out = 0.0
    if p > 0:
        out += 0.5 * p * math.log(p / m)
    if q > 0:
        out += 0.5 * q * math.log(q / m)
    return out


def _surprise(cur: pd.DataFrame, base: pd.DataFrame, leaves: Sequence[str]) -> pd.Series:
    out = pd.Series(0.0, index=cur.index)
    for k in leaves:
        a, b = base[k].abs(), cur[k].abs()
        if a.sum() <= 0 or b.sum() <= 0:
            continue
        p, q = a / a.sum(), b / b.sum()
        out = out + pd.Series([_js(x, y) for x, y in zip(p, q, strict=True)], index=cur.index)
    return out


def split(f: Form, cur: pd.DataFrame, base: pd.DataFrame, total_cur: Mapping[str, float],
          total_base: Mapping[str, float]) -> list[Member]:
    """Every member's contribution to the change of the metric, plus OVERLAP when members don't add up.

    ``cur``/``base``: one row per member (the index), one column per leaf; ``total_*``: the leaves over all
    members (from a query without the dimension, so distinct counts are right)."""
    idx = cur.index.union(base.index, sort=False)
    leaves = list(f.leaves)
    scalar = f.scale if isinstance(f, Ratio) else None
    cols = [k for k in leaves if k != scalar]
    c1 = cur.reindex(idx)[cols].astype(float).fillna(0.0)
    c0 = base.reindex(idx)[cols].astype(float).fillna(0.0)
    v1, v0 = value(f, total_cur), value(f, total_base)
    if v1 is None or v0 is None:
        raise ZeroDivisionError("ratio with a zero denominator")
    change = v1 - v0
    surprise = _surprise(c1, c0, cols)
    members: list[Member] = []
    if isinstance(f, Linear):
        m1, m0 = _lin(f, c1), _lin(f, c0)
        for i in idx:
            members.append(Member(i, float(m1[i] - m0[i]), float(m1[i]), float(m0[i]), surprise=float(surprise[i])))
    else:
        s1 = float(total_cur.get(scalar, 0.0) or 0.0) if scalar else 1.0
        s0 = float(total_base.get(scalar, 0.0) or 0.0) if scalar else 1.0
        d1, d0 = _total(f.denominator, total_cur), _total(f.denominator, total_base)
        n1, n0 = s1 * _lin(f.numerator, c1), s0 * _lin(f.numerator, c0)
        di1, di0 = _lin(f.denominator, c1), _lin(f.denominator, c0)
        for i in idx:
            w1, w0 = di1[i] / d1, di0[i] / d0
            r0 = n0[i] / di0[i] if di0[i] != 0 else v0
            mix = (w1 - w0) * (r0 - v0)
            rate = n1[i] / d1 - n0[i] / d0 - (w1 - w0) * v0 - mix
            members.append(Member(i, float(rate + mix), float(n1[i] / di1[i]) if di1[i] != 0 else None,
                                  float(n0[i] / di0[i]) if di0[i] != 0 else None, float(rate), float(mix),
                                  surprise=float(surprise[i])))
    rest = change - sum(m.contribution for m in members)
    if abs(rest) > 1e-9 * magnitude(members, v1, v0):   # more than rounding: the members overlap
        members.append(Member(OVERLAP, float(rest)))
    return members


def magnitude(members: Sequence[Member], *values: float) -> float:
    """The scale rounding errors of a split are relative to: the values and every term summed (a member with a
    tiny denominator can have large rate and mix effects that nearly cancel)."""
    terms = sum(abs(m.contribution) + abs(m.rate_effect or 0.0) + abs(m.mix_effect or 0.0) for m in members)
    return max(1.0, terms, *(abs(v) for v in values))


def score(members: Sequence[Member], change: float) -> Score:
    """How well a few members of the dimension explain the movement (see the module's docstring)."""
    real = [m for m in members if m.kind == "member"]
    gross = sum(abs(m.contribution) for m in real)
    if change == 0 or gross == 0:
        return Score(0.0, 0.0, (), False)
    taken, explained, surprise = [], 0.0, 0.0
    for m in sorted(real, key=lambda m: -m.surprise):
        ep = abs(m.contribution) / gross
        if ep < T_EP:
            continue
        taken.append(m.member)
        explained += ep
        surprise += m.surprise
        if explained >= T_EEP or len(taken) == MAX_CAUSES:
            break
    if explained >= T_EEP:
        return Score(surprise, explained, tuple(taken), True)
    top = sorted(real, key=lambda m: -abs(m.contribution))[:MAX_CAUSES]
    return Score(sum(m.surprise for m in top), sum(abs(m.contribution) for m in top) / gross,
                 tuple(m.member for m in top), False)


def rank_key(s: Score) -> tuple:
    """Dimensions that explain the change first (by surprise), then the others (by what their top members explain)."""
    return (0, -s.score, -s.explained) if s.qualified else (1, -s.explained, -s.score)


def grouped(members: Sequence[Member], max_members: int = MAX_MEMBERS, support: float = SUPPORT) -> list[Member]:
    """Members by absolute contribution, the small ones (under ``support`` of the total, or past
    ``max_members``) summed into one OTHER row; OVERLAP last. The sum is unchanged."""
    real = sorted((m for m in members if m.kind == "member"), key=lambda m: -abs(m.contribution))
    overlap = [m for m in members if m.kind == "overlap"]
    scale = sum(abs(m.contribution) for m in real) or 1.0
    keep = [m for k, m in enumerate(real) if k < max_members and abs(m.contribution) >= support * scale]
    rest = real[len(keep):]
    out = list(keep)
    if len(rest) == 1:
        out.append(rest[0])
    elif rest:
        ratio = rest[0].rate_effect is not None
        out.append(Member(OTHER, sum(m.contribution for m in rest),
                          rate_effect=sum(m.rate_effect or 0.0 for m in rest) if ratio else None,
                          mix_effect=sum(m.mix_effect or 0.0 for m in rest) if ratio else None,
                          count=len(rest)))
    return out + overlap


def parts(f: Form, total_cur: Mapping[str, float], total_base: Mapping[str, float]) -> list[tuple[str, str, float]]:
    """The change split by the metric's inputs: (leaf, role, contribution), adding up to the change.

    Linear: c_k · Δleaf_k. Ratio s·N/D: R1 − R0 = (s1 − s0)·N1/D1 + s0·ΔN/D1 − R0·ΔD/D1, so the scalar
    takes (s1 − s0)·N1/D1, a numerator leaf s0·c_k·Δleaf_k/D1, a denominator leaf −R0·e_k·Δleaf_k/D1.
    A leaf on both sides (revenue in gross margin) is one row."""
    def delta(k: str) -> float:
        return float(total_cur.get(k, 0.0) or 0.0) - float(total_base.get(k, 0.0) or 0.0)
    out: dict[str, tuple[str, float]] = {}

    def add(k: str, role: str, x: float) -> None:
        r, v = out.get(k, (role, 0.0))
        out[k] = (r if r == role else "both", v + x)
    if isinstance(f, Linear):
        for k, c in f.terms:
            add(k, "term", c * delta(k))
        return [(k, r, v) for k, (r, v) in out.items()]
    s1 = float(total_cur.get(f.scale, 0.0) or 0.0) if f.scale else 1.0
    s0 = float(total_base.get(f.scale, 0.0) or 0.0) if f.scale else 1.0
    d1, n1 = _total(f.denominator, total_cur), _total(f.numerator, total_cur)
    r0 = value(f, total_base) or 0.0
    if f.scale:
        add(f.scale, "scale", (s1 - s0) * n1 / d1)
    for k, c in f.numerator.terms:
        add(k, "numerator", s0 * c * delta(k) / d1)
    for k, e in f.denominator.terms:
        add(k, "denominator", -r0 * e * delta(k) / d1)
    return [(k, r, v) for k, (r, v) in out.items()]
