"""Python SDK of the PRM API (README: "SDKs")."""

from importlib.metadata import PackageNotFoundError, version

from prm_sdk.client import AsyncPrmClient, PrmClient, Result
from prm_sdk.problems import FieldError, ProblemError, is_problem
from prm_sdk.retry import NO_RETRIES, RetryPolicy, new_idempotency_key, parse_retry_after

try:
    __version__ = version("prm-sdk")
except PackageNotFoundError:  # pragma: no cover - run from a source tree
    __version__ = "0"

__all__ = ["NO_RETRIES", "AsyncPrmClient", "FieldError", "PrmClient", "ProblemError", "Result",
           "RetryPolicy", "__version__", "is_problem", "new_idempotency_key",
           "parse_retry_after"]
