"""The promotion gate, pure: metrics in, a decision and its reason out.

A candidate is promoted only when
- its held-out NLL ≤ `promote_ratio` × the active adapter's (the base model's when none is active):
  it must beat what serves now, by a margin, on code it never saw; and
- its NLL on the sanity set rose by at most `sanity_tolerance` over the base model's: forgetting is
  measured against the general model, so small regressions cannot pile up version after version.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Decision:
    promote: bool
    reason: str

    @property
    def label(self) -> str:
        return "promoted" if self.promote else "rejected"


def decide(metrics: dict, promote_ratio: float, sanity_tolerance: float, active_version: str | None = None) -> Decision:
    """`metrics`: {"base": {...}, "active": {...} | None, "candidate": {...}} as evaluate.py writes them."""
    base, cand = metrics["base"], metrics["candidate"]
    ref = metrics.get("active") or base
    ref_name = f"the active adapter {active_version}" if metrics.get("active") else "the base model"
    if cand.get("nll") is None or ref.get("nll") is None:
        return Decision(False, "no held-out NLL to compare (nothing to evaluate on)")
    bar = promote_ratio * ref["nll"]
    ratio = cand["nll"] / ref["nll"] if ref["nll"] else float("inf")
    if cand["nll"] > bar:
        return Decision(False, f"held-out NLL {cand['nll']:.4f} is {ratio:.3f}× that of {ref_name} ({ref['nll']:.4f}); "
                               f"promotion needs ≤ {promote_ratio:g}×")
    san_base, san_cand = base.get("sanity_nll"), cand.get("sanity_nll")
    if san_base and san_cand is not None:
        rise = san_cand / san_base - 1
        if rise > sanity_tolerance:
            return Decision(False, f"sanity-set NLL rose {rise:+.1%} over the base model's ({san_cand:.4f} vs "
                                   f"{san_base:.4f}); at most {sanity_tolerance:.1%} is allowed (forgetting)")
        sanity = f"; sanity set {rise:+.1%} (≤ {sanity_tolerance:.1%})"
    else:
        sanity = "; no sanity set scored"
    return Decision(True, f"held-out NLL {cand['nll']:.4f} is {ratio:.3f}× that of {ref_name} ({ref['nll']:.4f}), "
                          f"≤ {promote_ratio:g}×{sanity}")
