"""InferGuard: observability coverage for LLM inference stacks."""
__version__ = "0.1.0"
