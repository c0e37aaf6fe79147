"""TextEmbedding throughput by batch size (all-MiniLM-L6-v2 on CPU, the corpus paragraphs).

    HF_HUB_OFFLINE=1 python benchmarks/bench_text.py

Rounds interleave the batch sizes in a rotating order (the machine is shared: compare within a
round); the median texts/s per size is reported and written to benchmarks/results/text.json.
"""

import json
import os
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from vecs_core.adapter import AdapterContext, TextEmbedding

SIZES = (8, 16, 32, 64, 128)
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def main(rounds: int = 5, n: int = 620) -> None:
    with open(os.path.join(ROOT, "examples", "data", "corpus.jsonl"), encoding="utf-8") as fh:
        texts = [json.loads(line)["text"] for line in fh]
    texts = (texts * (n // len(texts) + 1))[:n]
    steps = {size: TextEmbedding(batch_size=size) for size in SIZES}
    for step in steps.values():  # load the model, warm the kernels
        list(step([(str(i), t, {}) for i, t in enumerate(texts[:64])], AdapterContext.upsert))
    rates: dict[int, list[float]] = {size: [] for size in SIZES}
    for r in range(rounds):
        order = SIZES[r % len(SIZES) :] + SIZES[: r % len(SIZES)]
        for size in order:
            records = ((str(i), t, {}) for i, t in enumerate(texts))
            start = time.perf_counter()
            count = sum(1 for _ in steps[size](records, AdapterContext.upsert))
            rates[size].append(count / (time.perf_counter() - start))
    out = {
        "texts": n,
        "rounds": rounds,
        "load": os.getloadavg(),
        "median_texts_per_s": {s: round(statistics.median(v)) for s, v in rates.items()},
        "all": {s: [round(x) for x in v] for s, v in rates.items()},
    }
    print(json.dumps(out, indent=1))
    with open(os.path.join(ROOT, "benchmarks", "results", "text.json"), "w") as fh:
        json.dump(out, fh, indent=1)


if __name__ == "__main__":
    main()
