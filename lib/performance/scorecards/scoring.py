"""Scorecard arithmetic, pure and hand-checkable: KPI scores, weighted totals, ranks, bonus splits.

Scoring (GLOSSARY.md, 绩效考核): a KPI with threshold T (score 0), target G (score 100) and stretch
S (score ``cap``) scores the linear interpolation of its actual along T → G → S, clamped to
[0, cap]. For lower-is-better KPIs T > G > S and the scale runs the other way. A banded rule gives the
score of the band the actual (or actual ÷ target) falls in. A unit's total is Σ w·score / Σ w over
the KPIs that were scored: a KPI without a score (no actual, no usable target) is left out of the
total, which is re-normalised over the weights of the others; each KPI's points (score × w / Σ w)
add up to the total.

Bonus pools are split in whole fen (分) by the largest-remainder method, so the parts always add up
to the pool exactly.
"""
from __future__ import annotations

import enum
import math
from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from fractions import Fraction

from lib.core.errors import InvalidArgument


class Direction(enum.StrEnum):
    HIGHER = "higher_is_better"
    LOWER = "lower_is_better"


class RuleKind(enum.StrEnum):
    LINEAR = "linear"
    BANDS = "bands"


class Basis(enum.StrEnum):
    """What bands are measured on: the actual itself, or the actual as a share of the target."""
    VALUE = "value"
    RATIO = "ratio"


class BonusMethod(enum.StrEnum):
    PROPORTIONAL = "proportional"   # share ∝ total score × base
    BANDS = "bands"                 # share ∝ multiplier of the score band × base


@dataclass(frozen=True)
class Rule:
    """How a KPI turns an actual into a score.

    linear: ``threshold`` and ``stretch`` are multiples of the target when ``relative`` (0.9 = 90 % of
    target), else absolute values; ``cap`` is the score at (and beyond) the stretch.
    bands: ``bands`` are (bound, score) pairs on ``basis``; higher-is-better takes the highest bound
    at or below the value, lower-is-better the lowest bound at or above it; outside every band: 0.
    """

    kind: RuleKind = RuleKind.LINEAR
    threshold: float = 0.9
    stretch: float = 1.1
    cap: float = 120.0
    relative: bool = True
    bands: tuple[tuple[float, float], ...] = ()
    basis: Basis = Basis.VALUE

    def points(self, target: float) -> tuple[float, float]:
        """The absolute threshold and stretch for a target."""
        if self.relative:
            return self.threshold * target, self.stretch * target
        return self.threshold, self.stretch


def _num(x: float | None) -> float | None:
    return None if x is None or (isinstance(x, float) and math.isnan(x)) else float(x)


def in_order(threshold: float, target: float, stretch: float, direction: Direction = Direction.HIGHER) -> bool:
    """threshold < target < stretch (higher is better), or threshold > target > stretch (lower is better).

    >>> in_order(80, 100, 120), in_order(135, 90, 63, Direction.LOWER), in_order(0.3, 0.25, 0.4)
    (True, True, False)
    """
    if direction is Direction.LOWER:
        return threshold > target > stretch
    return threshold < target < stretch


def linear_score(actual: float, threshold: float, target: float, stretch: float, cap: float = 120.0,
                 direction: Direction = Direction.HIGHER) -> float:
    """Score along threshold (0) → target (100) → stretch (cap), clamped to [0, cap].

    >>> linear_score(95, 80, 100, 120), linear_score(110, 80, 100, 120), linear_score(200, 80, 100, 120)
    (75.0, 110.0, 120.0)
    >>> linear_score(40, 60, 45, 35, direction=Direction.LOWER)   # days: lower is better
    110.0
    """
    if not in_order(threshold, target, stretch, direction):
        raise InvalidArgument(
            f"Threshold, target and stretch must be in order for {direction.value} "
            f"(got {threshold}, {target}, {stretch}).",
            f"门槛值、目标值、挑战值的顺序不符合“{direction.value}”（收到 {threshold}、{target}、{stretch}）。")
    if direction is Direction.LOWER:  # mirror, so the same increasing formula applies
        actual, threshold, target, stretch = -actual, -threshold, -target, -stretch
    if actual <= threshold:
        return 0.0
    if actual <= target:
        return 100.0 * (actual - threshold) / (target - threshold)
    if actual <= stretch:
        return 100.0 + (cap - 100.0) * (actual - target) / (stretch - target)
    return float(cap)


def band_score(x: float, bands: Sequence[tuple[float, float]], direction: Direction = Direction.HIGHER) -> float:
    """The score of the band ``x`` falls in (see ``Rule``); 0 outside every band.

    >>> b = ((60, 40), (75, 70), (85, 100), (95, 120))
    >>> band_score(86, b), band_score(59.9, b), band_score(95, b)
    (100.0, 0.0, 120.0)
    """
    if direction is Direction.HIGHER:
        best = max((b for b in bands if x >= b[0]), default=None, key=lambda b: b[0])
    else:
        best = min((b for b in bands if x <= b[0]), default=None, key=lambda b: b[0])
    return 0.0 if best is None else float(best[1])


def score(rule: Rule, actual: float | None, target: float | None,
          direction: Direction = Direction.HIGHER) -> float | None:
    """The KPI's score, or None when it can't be scored (no actual, or a target the rule can't use)."""
    actual, target = _num(actual), _num(target)
    if actual is None:
        return None
    if rule.kind is RuleKind.BANDS:
        if rule.basis is Basis.RATIO:
            if not target:
                return None
            return band_score(actual / target, rule.bands, direction)
        return band_score(actual, rule.bands, direction)
    if target is None or (rule.relative and target <= 0):
        return None  # multiples of a zero or negative target give no usable scale
    lo, hi = rule.points(target)
    return linear_score(actual, lo, target, hi, rule.cap, direction)


def _check_weights(scores: Sequence[float | None], weights: Sequence[float]) -> None:
    if len(scores) != len(weights):
        raise InvalidArgument("Scores and weights differ in length.", "得分与权重的个数不一致。")
    if any(w < 0 for w in weights) or sum(weights) <= 0:
        raise InvalidArgument(f"Weights must be ≥ 0 and add up to more than 0, got {list(weights)}.",
                              f"权重须不小于 0 且合计大于 0，收到 {list(weights)}。")


def weighted_total(scores: Sequence[float | None], weights: Sequence[float]) -> float | None:
    """Σ w·score / Σ w over the scored KPIs: an unscored KPI (None) is left out of the total, which is
    re-normalised over the weights of the others; None when no KPI with a weight was scored.

    >>> weighted_total([100, 50, None], [50, 30, 20])     # (5000 + 1500) / 80
    81.25
    >>> weighted_total([None, 80], [1, 0]) is None
    True
    """
    _check_weights(scores, weights)
    scored = [(float(s), float(w)) for s, w in zip(scores, weights) if _num(s) is not None]
    total_w = sum(w for _, w in scored)
    if total_w <= 0:
        return None
    return sum(w * s for s, w in scored) / total_w


def points(scores: Sequence[float | None], weights: Sequence[float]) -> list[float | None]:
    """Each KPI's points: score × w / Σ w over the scored KPIs (None when unscored); they add up to
    ``weighted_total``.

    >>> points([100, 50, None], [50, 30, 20])
    [62.5, 18.75, None]
    """
    _check_weights(scores, weights)
    total_w = sum(float(w) for s, w in zip(scores, weights) if _num(s) is not None)
    return [None if _num(s) is None or total_w <= 0 else float(s) * float(w) / total_w
            for s, w in zip(scores, weights)]


def ranks(totals: Mapping[Hashable, float | None]) -> dict[Hashable, int]:
    """1 = best; equal totals share a rank and the next rank is skipped (1, 2, 2, 4); units without a
    total (nothing scored) share the rank after every scored unit.

    >>> ranks({"a": 90, "b": 95, "c": 90, "d": 10, "e": None})
    {'a': 2, 'b': 1, 'c': 2, 'd': 4, 'e': 5}
    """
    vals = [v for v in map(_num, totals.values()) if v is not None]
    return {k: len(vals) + 1 if _num(v) is None else 1 + sum(1 for o in vals if o > v) for k, v in totals.items()}


def band_multiplier(total: float, bands: Sequence[tuple[float, float]]) -> float:
    """The multiplier of the highest band whose minimum total the unit reached; 0 below every band."""
    return band_score(total, bands, Direction.HIGHER)


def allocate(pool: Decimal | float | str, weights: Mapping[Hashable, float]) -> dict[Hashable, Decimal]:
    """Split ``pool`` (yuan) in proportion to ``weights``, in whole fen that add up to the pool exactly.

    Each part is first rounded down to the fen; the fen left over go one each to the largest
    remainders (ties: larger weight first, then the order given).

    >>> allocate("100", {"a": 1, "b": 1, "c": 1})
    {'a': Decimal('33.34'), 'b': Decimal('33.33'), 'c': Decimal('33.33')}
    """
    pool = Decimal(str(pool))
    fen = pool * 100
    if pool < 0 or fen != fen.to_integral_value():
        raise InvalidArgument(f"The pool must be a non-negative amount in whole fen, got {pool}.",
                              f"奖金池须为非负金额且精确到分，收到 {pool}。")
    if any(w < 0 or math.isnan(w) for w in weights.values()):
        raise InvalidArgument("Bonus weights must not be negative.", "奖金分配权重不能为负。")
    total_fen, total_w = int(fen), sum(Fraction(w) for w in weights.values())
    if not weights:
        return {}
    if total_w == 0:
        if total_fen:
            raise InvalidArgument("No unit earned a share of the pool (every score × base is 0).",
                                  "没有单位获得奖金份额（所有“得分 × 基数”均为 0）。")
        return {k: Decimal("0.00") for k in weights}
    exact = {k: total_fen * Fraction(w) / total_w for k, w in weights.items()}
    parts = {k: math.floor(v) for k, v in exact.items()}
    left = total_fen - sum(parts.values())
    order = sorted(enumerate(weights), key=lambda iw: (-(exact[iw[1]] - parts[iw[1]]), -weights[iw[1]], iw[0]))
    for _, k in order[:left]:
        parts[k] += 1
    return {k: Decimal(parts[k]) / 100 for k in weights}


def parse_pool(value: Decimal | float | str | None) -> Decimal:
    """A bonus pool in yuan as a Decimal to the fen; InvalidArgument (zh/en) for text that is not a
    non-negative amount.

    >>> parse_pool("600,000"), parse_pool(1000.01)
    (Decimal('600000.00'), Decimal('1000.01'))
    """
    try:
        d = Decimal(str(value).strip().replace(",", ""))
        ok = d.is_finite() and 0 <= d < Decimal("1e16")   # the store keeps 18 digits, 2 after the point
        d = d.quantize(Decimal("0.01")) if ok else d
    except (InvalidOperation, ValueError):
        ok = False
    if not ok:
        raise InvalidArgument(f"Bonus pool {value!r} is not an amount; give a number of yuan ≥ 0, e.g. 600000 or "
                              "1000.50.", f"奖金池 {value!r} 不是金额；请填写不小于 0 的元数，例如 600000 或 1000.50。")
    return d


def bonus_weights(totals: Mapping[Hashable, float | None], bases: Mapping[Hashable, float], method: BonusMethod,
                  bands: Sequence[tuple[float, float]] = ()) -> dict[Hashable, float]:
    """Each unit's claim on the pool: total × base, or band multiplier × base (0 without a total).

    ``bases`` empty: every base is 1. Otherwise every unit needs one (a missing base is an error
    naming the units, never a silent 1).
    """
    missing = [k for k in totals if k not in bases] if bases else []
    if missing:
        raise InvalidArgument(f"No bonus base for {missing}: give every unit a base, or none.",
                              f"{missing} 没有奖金基数：请为每个单位设置基数，或全部不设。")
    base = (lambda k: float(bases[k])) if bases else (lambda k: 1.0)
    claim = {}
    for k, t in totals.items():
        t = _num(t)
        if t is None:
            claim[k] = 0.0
        elif method is BonusMethod.BANDS:
            claim[k] = band_multiplier(t, bands) * base(k)
        else:
            claim[k] = max(t, 0.0) * base(k)
    return claim
