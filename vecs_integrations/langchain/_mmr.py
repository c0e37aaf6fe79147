"""Maximal marginal relevance (MMR) selection over candidate vectors, with numpy."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np


def _unit_rows(matrix: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
    norms = np.linalg.norm(matrix, axis=1, keepdims=True)
    norms[norms == 0] = 1.0  # a zero vector is similar to nothing (cosine 0)
    unit: np.ndarray[Any, Any] = matrix / norms
    return unit


def mmr_select(
    query: Sequence[float] | np.ndarray[Any, Any],
    candidates: Sequence[Sequence[float]] | np.ndarray[Any, Any],
    k: int,
    lambda_mult: float = 0.5,
) -> list[int]:
    """Indexes of up to ``k`` candidates, **in selection order**.

    Each step picks the candidate maximising
    ``lambda_mult * sim(query, c) - (1 - lambda_mult) * max(sim(c, s) for s already selected)``,
    with cosine similarity. ``lambda_mult=1`` is plain similarity order, ``0`` is maximum
    diversity. Ties go to the earlier candidate (the nearer one, for search results).
    """
    if not 0.0 <= lambda_mult <= 1.0:
        raise ValueError(f"lambda_mult must be in [0, 1], got {lambda_mult!r}")
    cand = np.asarray(candidates, dtype=np.float64)
    if k <= 0 or cand.size == 0:
        return []
    if cand.ndim != 2:
        raise ValueError("candidates must be a 2-D array of vectors")
    cand = _unit_rows(cand)
    q = _unit_rows(np.asarray(query, dtype=np.float64).reshape(1, -1))[0]
    relevance = cand @ q
    pairwise = cand @ cand.T
    n = cand.shape[0]
    selected: list[int] = []
    # Highest similarity to any selected candidate so far, per candidate.
    redundancy = np.full(n, -np.inf)
    available = np.ones(n, dtype=bool)
    while len(selected) < min(k, n):
        if selected:
            scores = lambda_mult * relevance - (1.0 - lambda_mult) * redundancy
        else:
            scores = relevance.copy()
        scores[~available] = -np.inf
        best = int(np.argmax(scores))
        selected.append(best)
        available[best] = False
        redundancy = np.maximum(redundancy, pairwise[best])
    return selected
