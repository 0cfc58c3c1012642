"""Window math for collect-metrics: what a metric did between the first and the last tick.

Pure functions and small accumulators over samples; no I/O, no clock. A tick hands each
accumulator the values one scrape had (per label series) and the time the scrape was taken;
the accumulators keep what the window summary needs and nothing more:

- counters: first, last, delta and reset count per series. A value lower than the previous
  one is a reset: the delta adds the value after the reset (the counter restarted from zero),
  which is Prometheus `increase()` without extrapolation to the window edges. The rate is the
  delta over the time between the first and the last sample of the series.
- gauges: every value per series (min, quantiles, max, last), within a budget.
- histograms: bucket, count and sum deltas per series, resets handled the same way (a count
  or a bucket that goes down, or a bucket layout that changes, starts the series afresh);
  windowed quantiles come from the bucket deltas with linear interpolation inside the bucket
  (Prometheus `histogram_quantile`), and the mean from the sum and count deltas.

Series are aggregated only as the spec says (`aggregate` of each metric: sum, max, min, last,
none); `none` keeps the series apart and gives no aggregate.
"""
from __future__ import annotations

import math
from typing import Any, Iterable

# Gauge values kept per series (and per aggregate) for quantiles. Past the budget every other
# value is dropped and from then on only every 2nd (4th, 8th ...) value is kept: the kept
# values stay evenly spread over the window; min, max, last and the count stay exact.
GAUGE_VALUES_BUDGET = 4096


def _finite(v: float | None) -> bool:
    return v is not None and not (math.isnan(v) or math.isinf(v))


def quantile_of_values(values: list[float], q: float) -> float | None:
    """The q-quantile of plain values, linear between closest ranks (numpy's default)."""
    vals = sorted(v for v in values if not math.isnan(v))
    if not vals:
        return None
    if len(vals) == 1:
        return vals[0]
    pos = q * (len(vals) - 1)
    lo = int(math.floor(pos))
    hi = min(lo + 1, len(vals) - 1)
    return vals[lo] + (vals[hi] - vals[lo]) * (pos - lo)


def le_value(le: str) -> float | None:
    """The upper bound a `le` label names, or None when it is not a number."""
    if le in ("+Inf", "Inf", "+inf", "inf"):
        return math.inf
    try:
        return float(le)
    except ValueError:
        return None


def histogram_quantile(q: float, buckets: Iterable[tuple[float, float]]) -> float | None:
    """Prometheus `histogram_quantile` over cumulative bucket counts [(upper bound, count)].

    None when there is no observation or no +Inf bucket. The rank q*total falls in the first
    bucket whose cumulative count reaches it, and the value is interpolated linearly inside
    that bucket (from the previous bound, or 0 for the first bucket when its bound is
    positive). A rank in the +Inf bucket gives the highest finite bound."""
    bs = sorted(buckets)
    if not bs or not math.isinf(bs[-1][0]):
        return None
    # Cumulative counts must not go down (a scrape between two bucket writes); make them monotonic.
    fixed: list[tuple[float, float]] = []
    top = 0.0
    for ub, c in bs:
        top = max(top, c)
        fixed.append((ub, top))
    total = fixed[-1][1]
    if total <= 0 or math.isnan(q):
        return None
    if q <= 0:
        return -math.inf if q < 0 else None
    if q >= 1:
        return math.inf if q > 1 else (fixed[-2][0] if len(fixed) > 1 else None)
    rank = q * total
    prev_ub, prev_c = 0.0, 0.0
    for i, (ub, c) in enumerate(fixed):
        if c >= rank:
            if math.isinf(ub):
                return fixed[-2][0] if len(fixed) > 1 else None
            if i == 0:
                if ub <= 0:
                    return ub
                prev_ub = 0.0
            if c == prev_c:
                return ub
            return prev_ub + (ub - prev_ub) * (rank - prev_c) / (c - prev_c)
        prev_ub, prev_c = ub, c
    return None


def _aggregate(values: list[float], how: str) -> float | None:
    vals = [v for v in values if v is not None and not math.isnan(v)]
    if not vals or how == "none":
        return None
    if how == "sum":
        return math.fsum(vals)
    if how == "max":
        return max(vals)
    if how == "min":
        return min(vals)
    return vals[-1]  # last


def aggregate(values: list[float], how: str) -> float | None:
    """Series values combined as the spec says (sum, max, min, last); None for `none`."""
    return _aggregate(values, how)


# --------------------------------------------------------------------------- counters

def step_increase(prev: float, v: float) -> tuple[float, bool]:
    """The increase of a counter from one sample to the next, and whether it was reset: a
    value lower than the one before means the process restarted and counted `v` from zero."""
    return (v, True) if v < prev else (v - prev, False)


def counter_increase(values: list[float | None]) -> tuple[float | None, int]:
    """The increase of a cumulative counter over successive scrapes, and the resets seen.
    None (absent at that scrape) breaks the chain: pairs are taken only between consecutive
    scrapes where both values are known. None when no pair is known."""
    total = 0.0
    pairs = resets = 0
    prev: float | None = None
    for v in values:
        if v is not None and prev is not None:
            inc, reset = step_increase(prev, v)
            pairs += 1
            resets += reset
            total += inc
        prev = v
    return (total if pairs else None), resets


class CounterSeries:
    """One counter series over the window."""

    __slots__ = ("first", "last", "first_t", "last_t", "delta", "resets", "ticks", "first_tick", "born")

    def __init__(self, t: float, v: float, tick: int):
        self.born = False   # created during the window (absent from an earlier complete scrape)
        self.first = self.last = v
        self.first_t = self.last_t = t
        self.delta = 0.0
        self.resets = 0
        self.ticks = 1
        self.first_tick = tick

    def add(self, t: float, v: float) -> float:
        """Take the next sample; returns the increase since the previous one (resets handled)."""
        inc, reset = step_increase(self.last, v)
        self.resets += reset
        self.delta += inc
        self.last = v
        self.last_t = t
        self.ticks += 1
        return inc

    def summary(self) -> dict[str, Any]:
        span = self.last_t - self.first_t
        out = {"first": self.first, "last": self.last, "delta": self.delta,
               "rate": (self.delta / span) if span > 0 else None, "resets": self.resets,
               "seconds": span, "ticks": self.ticks}
        if self.born:
            out["appeared_in_window"] = True
        return out


class HistogramSeries:
    """One histogram series over the window: bucket, count and sum deltas."""

    __slots__ = ("last_buckets", "last_count", "last_sum", "d_buckets", "d_count", "d_sum",
                 "resets", "ticks", "first_t", "last_t", "first_tick", "layout_changes", "born")

    def __init__(self, t: float, buckets: dict[str, float], count: float | None, sum_: float | None, tick: int):
        self.born = False   # created during the window (absent from an earlier complete scrape)
        self.last_buckets = dict(buckets)
        self.last_count = count
        self.last_sum = sum_
        self.d_buckets = {le: 0.0 for le in buckets}
        self.d_count = 0.0
        self.d_sum = 0.0
        self.resets = 0
        self.layout_changes = 0
        self.ticks = 1
        self.first_t = self.last_t = t
        self.first_tick = tick

    def add(self, t: float, buckets: dict[str, float], count: float | None, sum_: float | None) -> tuple[float, float]:
        """Take the next sample; returns (count increase, sum increase) since the previous one."""
        layout = set(buckets) != set(self.last_buckets)
        went_down = (count is not None and self.last_count is not None and count < self.last_count) or any(
            v < self.last_buckets.get(le, 0.0) for le, v in buckets.items() if le in self.last_buckets)
        if layout:
            self.layout_changes += 1
        if went_down or layout:
            if went_down:
                self.resets += 1
            # Started afresh: what it holds now was all observed since the previous sample.
            inc_b = dict(buckets)
            inc_c = count or 0.0
            inc_s = sum_ or 0.0
        else:
            inc_b = {le: v - self.last_buckets[le] for le, v in buckets.items()}
            inc_c = (count - self.last_count) if count is not None and self.last_count is not None else 0.0
            inc_s = (sum_ - self.last_sum) if sum_ is not None and self.last_sum is not None else 0.0
        for le, v in inc_b.items():
            self.d_buckets[le] = self.d_buckets.get(le, 0.0) + v
        self.d_count += inc_c
        self.d_sum += inc_s
        self.last_buckets = dict(buckets)
        self.last_count, self.last_sum = count, sum_
        self.last_t = t
        self.ticks += 1
        return inc_c, inc_s


def bucket_pairs(buckets: dict[str, float]) -> list[tuple[float, float]]:
    out = []
    for le, v in buckets.items():
        ub = le_value(le)
        if ub is not None:
            out.append((ub, v))
    return out


def histogram_stats(d_buckets: dict[str, float], d_count: float, d_sum: float,
                    quantiles: Iterable[float]) -> dict[str, Any]:
    """Windowed quantiles (from bucket deltas) and mean (sum delta over count delta)."""
    pairs = bucket_pairs(d_buckets)
    out: dict[str, Any] = {"count_delta": d_count, "sum_delta": d_sum,
                           "mean": (d_sum / d_count) if d_count > 0 else None}
    for q in quantiles:
        out[qkey(q)] = histogram_quantile(q, pairs) if d_count > 0 or pairs else None
    return out


def qkey(q: float) -> str:
    """p50, p95, p99, p999 ..."""
    s = f"{q * 100:.10g}".replace(".", "")
    return "p" + s


# --------------------------------------------------------------------------- gauges

class GaugeValues:
    """Values over the window: exact min, max, last and count; an evenly thinned sample for
    quantiles (see GAUGE_VALUES_BUDGET)."""

    __slots__ = ("values", "stride", "n", "lo", "hi", "last")

    def __init__(self) -> None:
        self.values: list[float] = []
        self.stride = 1
        self.n = 0
        self.lo = math.inf
        self.hi = -math.inf
        self.last: float | None = None

    def add(self, v: float) -> None:
        if self.n % self.stride == 0:
            if len(self.values) >= GAUGE_VALUES_BUDGET:
                self.values = self.values[::2]
                self.stride *= 2
            if self.n % self.stride == 0:
                self.values.append(v)
        self.n += 1
        self.lo = min(self.lo, v)
        self.hi = max(self.hi, v)
        self.last = v

    def stats(self, quantiles: Iterable[float]) -> dict[str, Any]:
        out: dict[str, Any] = {"min": self.lo if self.n else None, "max": self.hi if self.n else None,
                               "last": self.last, "samples": self.n}
        for q in quantiles:
            out[qkey(q)] = quantile_of_values(self.values, q)
        if self.stride > 1:
            out["quantiles_from"] = f"every {self.stride}th value ({len(self.values)} of {self.n})"
        return out


class GaugeSeries:
    __slots__ = ("vals", "ticks", "first_tick")

    def __init__(self, v: float, tick: int):
        self.vals = GaugeValues()
        self.vals.add(v)
        self.ticks = 1
        self.first_tick = tick

    def add(self, v: float) -> None:
        self.vals.add(v)
        self.ticks += 1


# --------------------------------------------------------------------------- one metric

class MetricWindow:
    """Every series of one canonical metric of one target over the window."""

    def __init__(self, metric_id: str, type_: str, aggregate_: str):
        self.metric = metric_id
        self.type = type_
        self.aggregate = aggregate_
        self.series: dict[str, Any] = {}          # series key (label text) -> *Series
        self.exposed: dict[str, None] = {}        # exposed names seen, in order
        self.ticks_present = 0
        self.last_tick_present: int | None = None
        self.last_series = 0                      # series in the last tick it was present
        self.tick_values = GaugeValues()          # gauges: the aggregate of each tick
        self.tick_times: list[float] = []
        self.nonfinite = 0

    def add_tick(self, tick: int, t: float, name: str, kind: str, series: dict[str, Any],
                 born_after: float | None = None) -> dict[str, Any]:
        """Take one scrape's series of this metric. `kind` is `value` (series -> float) or
        `histogram` (series -> (buckets {le: cumulative}, count, sum)). Returns the tick's
        view for the timeline: the aggregate value, and the increase since the previous tick
        (counters, histograms).

        `born_after`: the time of the target's previous complete scrape, when there was one. A
        counter or histogram series that was not in it was created since (a counter appears
        with its first event): it started from zero at that scrape, so what it holds now was
        counted during the window. Without a previous complete scrape, a series' first value
        is where its window starts (its history before the window is unknown)."""
        self.exposed.setdefault(name, None)
        self.ticks_present += 1
        self.last_tick_present = tick
        self.last_series = len(series)
        if kind == "histogram":
            return self._histogram_tick(tick, t, series, born_after)
        if self.type == "counter":
            incs: list[float] = []
            vals: list[float] = []
            for key, v in series.items():
                if not _finite(v):
                    self.nonfinite += 1
                    continue
                s = self.series.get(key)
                if s is None and born_after is not None:
                    s = self.series[key] = CounterSeries(born_after, 0.0, tick)
                    s.born = True
                if s is None:
                    self.series[key] = CounterSeries(t, v, tick)
                else:
                    incs.append(s.add(t, v))
                vals.append(v)
            return {"value": _aggregate(vals, self.aggregate), "increase": _aggregate(incs, self.aggregate) if incs else None}
        vals = []
        for key, v in series.items():
            if not _finite(v):
                self.nonfinite += 1
                continue
            s = self.series.get(key)
            if s is None:
                self.series[key] = GaugeSeries(v, tick)
            else:
                s.add(v)
            vals.append(v)
        agg = _aggregate(vals, self.aggregate)
        if agg is not None:
            self.tick_values.add(agg)
        return {"value": agg}

    def _histogram_tick(self, tick: int, t: float, series: dict[str, Any], born_after: float | None) -> dict[str, Any]:
        incs_c: list[float] = []
        incs_s: list[float] = []
        counts: list[float] = []
        sums: list[float] = []
        for key, (buckets, count, sum_) in series.items():
            if count is not None and not _finite(count):
                self.nonfinite += 1
                continue
            s = self.series.get(key)
            if s is None and born_after is not None:
                s = self.series[key] = HistogramSeries(born_after, {le: 0.0 for le in buckets}, 0.0, 0.0, tick)
                s.born = True
            if s is None:
                self.series[key] = HistogramSeries(t, buckets, count, sum_, tick)
            else:
                c, sm = s.add(t, buckets, count, sum_)
                incs_c.append(c)
                incs_s.append(sm)
            if count is not None:
                counts.append(count)
            if sum_ is not None:
                sums.append(sum_)
        agg = self.aggregate != "none"
        out: dict[str, Any] = {"count": math.fsum(counts) if agg and counts else None,
                               "sum": math.fsum(sums) if agg and sums else None}
        if incs_c and agg:
            dc, ds = math.fsum(incs_c), math.fsum(incs_s)
            out["count_increase"] = dc
            out["mean"] = ds / dc if dc > 0 else None
        return out

    # ------------------------------------------------------------------ summary

    def summary(self, labels_of, quantiles: list[float], gauge_quantiles: list[float],
                max_series: int = 50) -> dict[str, Any]:
        """The window of this metric: per series, then aggregated as the spec says."""
        per: list[dict[str, Any]] = []
        out: dict[str, Any] = {"type": self.type, "aggregate": self.aggregate,
                               "from": list(self.exposed), "ticks_present": self.ticks_present,
                               "series_count": len(self.series), "last_tick_series": self.last_series}
        if self.nonfinite:
            out["nonfinite_samples"] = self.nonfinite
        if self.type == "counter" and all(isinstance(s, CounterSeries) for s in self.series.values()):
            sums = [s.summary() for s in self.series.values()]
            for key, s in zip(self.series, sums):
                per.append({"labels": labels_of(key), **s})
            deltas = [s["delta"] for s in sums]
            window = _aggregate(deltas, self.aggregate)
            spans = [s["seconds"] for s in sums if s["seconds"] > 0]
            agg: dict[str, Any] | None = None
            if window is not None:
                span = max(spans) if spans else 0.0
                rates = [s["rate"] for s in sums if s["rate"] is not None]
                agg = {"delta": window,
                       "rate": _aggregate(rates, self.aggregate) if rates else None,
                       "resets": sum(s["resets"] for s in sums),
                       "first": _aggregate([s["first"] for s in sums], self.aggregate),
                       "last": _aggregate([s["last"] for s in sums], self.aggregate),
                       "seconds": span}
            out["window"] = agg
            out["active"] = any(d > 0 for d in deltas)
        elif all(isinstance(s, HistogramSeries) for s in self.series.values()) and self.series:
            hs = list(self.series.values())
            for key, s in zip(self.series, hs):
                st = histogram_stats(s.d_buckets, s.d_count, s.d_sum, quantiles)
                per.append({"labels": labels_of(key), **st, "resets": s.resets, "ticks": s.ticks,
                            **({"layout_changes": s.layout_changes} if s.layout_changes else {}),
                            **({"appeared_in_window": True} if s.born else {})})
            agg = None
            if self.aggregate != "none":
                # Buckets add up across series only when their layouts agree.
                layouts = {tuple(sorted(s.d_buckets)) for s in hs}
                d_b: dict[str, float] = {}
                if len(layouts) == 1:
                    for s in hs:
                        for le, v in s.d_buckets.items():
                            d_b[le] = d_b.get(le, 0.0) + v
                dc = math.fsum(s.d_count for s in hs)
                ds = math.fsum(s.d_sum for s in hs)
                agg = histogram_stats(d_b, dc, ds, quantiles)
                if len(layouts) != 1:
                    for q in quantiles:
                        agg[qkey(q)] = None
                    agg["note"] = "series have different bucket layouts: no pooled quantiles"
                agg["resets"] = sum(s.resets for s in hs)
                agg["buckets"] = [[le, v] for le, v in sorted(d_b.items(), key=lambda kv: le_value(kv[0]) or 0.0)]
            out["window"] = agg
            out["active"] = any(s.d_count > 0 or any(v > 0 for v in s.d_buckets.values()) for s in hs)
        else:
            gs = [s for s in self.series.values() if isinstance(s, GaugeSeries)]
            for key, s in self.series.items():
                if isinstance(s, GaugeSeries):
                    per.append({"labels": labels_of(key), **s.vals.stats(gauge_quantiles), "ticks": s.ticks})
            agg = None
            if self.aggregate != "none" and self.tick_values.n:
                agg = self.tick_values.stats(gauge_quantiles)
            out["window"] = agg
            out["active"] = any(s.vals.lo != 0 or s.vals.hi != 0 for s in gs if s.vals.n)
        out["series"] = per[:max_series]
        if len(per) > max_series:
            out["series_not_shown"] = len(per) - max_series
        return out


def ratio(num: float | None, den: float | None) -> tuple[float | None, str | None]:
    """A hit rate from two window deltas: (value, reason when None)."""
    if num is None or den is None:
        return None, "input absent during the window"
    if den == 0:
        return None, "denominator did not move during the window"
    v = num / den
    return v, None
