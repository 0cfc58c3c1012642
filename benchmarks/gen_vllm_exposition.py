"""Write a large vLLM-style Prometheus exposition (text format 0.0.4) for benchmarks.

The file is rendered by prometheus_client itself (a collector registered in a
CollectorRegistry, then `generate_latest`), so it is the text format a vLLM server
really serves: counters as `<name>_total` plus a separate `<name>_created` gauge family,
histograms as `_bucket/_count/_sum` plus `_created`, labels `engine` x `model_name`.
Every value comes from a seeded random generator and `_created` timestamps are fixed, so
the same arguments always give the same bytes.

    python benchmarks/gen_vllm_exposition.py                     # ~20 MB, ~200k samples
    python benchmarks/gen_vllm_exposition.py /tmp/small.prom --models 4 --engines 2
"""
from __future__ import annotations

import argparse
import os
import random
import sys

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.metrics_core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily
from prometheus_client.samples import Sample

DEFAULT_OUTPUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data", "vllm_20mb.prom")
CREATED_BASE = 1_778_194_974.0  # a fixed process start time (seconds since the epoch)

_LATENCY = [0.3, 0.5, 0.8, 1.0, 1.5, 2.0, 2.5, 5.0, 10.0, 15.0, 20.0, 30.0, 40.0, 50.0, 60.0, 120.0, 240.0, 480.0, 960.0]
_TOKENS = [1.0, 2.0, 5.0, 10.0, 20.0, 50.0, 100.0, 200.0, 500.0, 1000.0, 2000.0, 5000.0, 10000.0]

# (name, help, finite bucket bounds, typical observation scale). With +Inf: 14 to 20 buckets.
HISTOGRAMS = [
    ("vllm:time_to_first_token_seconds", "Histogram of time to first token in seconds.",
     [0.001, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0, 20.0, 40.0, 80.0], 0.2),
    ("vllm:inter_token_latency_seconds", "Histogram of inter-token latency in seconds.",
     [0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0, 20.0, 40.0, 80.0], 0.03),
    ("vllm:e2e_request_latency_seconds", "Histogram of e2e request latency in seconds.", _LATENCY, 4.0),
    ("vllm:request_queue_time_seconds", "Histogram of time spent in WAITING phase for request.", _LATENCY, 0.5),
    ("vllm:request_prefill_time_seconds", "Histogram of time spent in PREFILL phase for request.", _LATENCY, 0.4),
    ("vllm:request_decode_time_seconds", "Histogram of time spent in DECODE phase for request.", _LATENCY, 3.0),
    ("vllm:request_prompt_tokens", "Number of prefill tokens processed.", _TOKENS, 1500.0),
    ("vllm:request_generation_tokens", "Number of generation tokens processed.", _TOKENS, 200.0),
    ("vllm:iteration_tokens_total", "Histogram of number of tokens per engine_step.",
     [1.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0, 512.0, 1024.0, 2048.0, 4096.0, 8192.0, 16384.0], 300.0),
]

# (name without _total, help, extra label name, extra label values)
COUNTERS = [
    ("vllm:prefix_cache_queries", "Prefix cache queries, in terms of number of queried tokens.", None, None),
    ("vllm:prefix_cache_hits", "Prefix cache hits, in terms of number of cached tokens.", None, None),
    ("vllm:external_prefix_cache_queries", "External prefix cache queries from KV connector.", None, None),
    ("vllm:external_prefix_cache_hits", "External prefix cache hits from KV connector.", None, None),
    ("vllm:num_preemptions", "Cumulative number of preemption from the engine.", None, None),
    ("vllm:prompt_tokens", "Number of prefill tokens processed.", None, None),
    ("vllm:prompt_tokens_by_source", "Number of prompt tokens by source.", "source",
     ["local_compute", "local_cache_hit", "external_kv_transfer"]),
    ("vllm:prompt_tokens_cached", "Number of cached prompt tokens (local + external).", None, None),
    ("vllm:generation_tokens", "Number of generation tokens processed.", None, None),
    ("vllm:request_success", "Count of successfully processed requests.", "finished_reason",
     ["stop", "length", "abort", "error", "repetition"]),
]

GAUGES = [
    ("vllm:num_requests_running", "Number of requests in model execution batches.", None, None),
    ("vllm:num_requests_waiting", "Number of requests waiting to be processed.", None, None),
    ("vllm:num_requests_waiting_by_reason", "Number of requests waiting, by reason.", "reason", ["capacity", "deferred"]),
    ("vllm:engine_sleep_state", "Engine sleep state.", "sleep_state", ["awake", "weights_offloaded", "discard_all"]),
    ("vllm:kv_cache_usage_perc", "KV-cache usage. 1 means 100 percent usage.", None, None),
]


def model_names(n: int) -> list[str]:
    orgs = ["Qwen/Qwen3", "meta-llama/Llama-3.1", "mistralai/Mistral", "google/gemma-3", "deepseek-ai/DeepSeek-R1-Distill"]
    sizes = ["0.6B", "1.7B", "4B", "8B", "14B", "32B", "70B"]
    return [f"{orgs[i % len(orgs)]}-{sizes[(i // len(orgs)) % len(sizes)]}-v{i:02d}" for i in range(n)]


class VllmLikeCollector:
    """Yields the families of a fleet of vLLM engines from seeded random numbers."""

    def __init__(self, models: int, engines: int, seed: int):
        self.models = model_names(models)
        self.engines = [str(e) for e in range(engines)]
        self.seed = seed

    def _series(self):
        for model in self.models:
            for engine in self.engines:
                yield engine, model

    def collect(self):
        rng = random.Random(self.seed)
        series = list(self._series())
        created = {key: CREATED_BASE + i * 0.001 for i, key in enumerate(series)}
        for name, doc, extra, values in COUNTERS:
            labelnames = ["engine", "model_name"] + ([extra] if extra else [])
            fam = CounterMetricFamily(name, doc, labels=labelnames)
            for key in series:
                for v in (values or [None]):
                    labels = list(key) + ([v] if v is not None else [])
                    fam.add_metric(labels, float(rng.randrange(0, 5_000_000)), created=created[key])
            yield fam
        for name, doc, extra, values in GAUGES:
            labelnames = ["engine", "model_name"] + ([extra] if extra else [])
            fam = GaugeMetricFamily(name, doc, labels=labelnames)
            for key in series:
                for v in (values or [None]):
                    labels = list(key) + ([v] if v is not None else [])
                    value = rng.random() if name.endswith("_perc") else float(rng.randrange(0, 64))
                    fam.add_metric(labels, value)
            yield fam
        for name, doc, bounds, scale in HISTOGRAMS:
            fam = HistogramMetricFamily(name, doc, labels=["engine", "model_name"])
            for key in series:
                counts = [0] * (len(bounds) + 1)
                total = 0.0
                n = rng.randrange(0, 400)
                for _ in range(n):
                    x = rng.expovariate(1.0 / scale)
                    total += x
                    i = 0
                    while i < len(bounds) and x > bounds[i]:
                        i += 1
                    counts[i] += 1
                cumulative, acc = [], 0
                for i, c in enumerate(counts):
                    acc += c
                    le = "+Inf" if i == len(bounds) else repr(float(bounds[i]))
                    cumulative.append((le, float(acc)))
                fam.add_metric(list(key), cumulative, total)
                # HistogramMetricFamily has no `created` argument; add the sample the way a
                # live Histogram does, so it is rendered as the `<name>_created` gauge family.
                fam.samples.append(Sample(name + "_created", dict(zip(["engine", "model_name"], key)), created[key], None))
            yield fam


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("output", nargs="?", default=DEFAULT_OUTPUT, help="where to write (default: %(default)s)")
    ap.add_argument("--models", type=int, default=40, help="distinct model_name values (default: %(default)s)")
    ap.add_argument("--engines", type=int, default=22, help="engine indices per model (default: %(default)s)")
    ap.add_argument("--seed", type=int, default=20240607, help="random seed (default: %(default)s)")
    args = ap.parse_args(argv)

    registry = CollectorRegistry(auto_describe=False)
    registry.register(VllmLikeCollector(args.models, args.engines, args.seed))
    body = generate_latest(registry)
    os.makedirs(os.path.dirname(os.path.abspath(args.output)) or ".", exist_ok=True)
    tmp = args.output + ".tmp"
    with open(tmp, "wb") as fh:
        fh.write(body)
    os.replace(tmp, args.output)
    samples = sum(1 for line in body.splitlines() if line and not line.startswith(b"#"))
    print(f"wrote {args.output}: {len(body) / 1e6:.1f} MB, {samples} samples, "
          f"{args.models} models x {args.engines} engines", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
