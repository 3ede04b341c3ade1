"""Benchmarks behind `growpilot bench …`; each returns a JSON-able dict of medians and raw runs."""

from __future__ import annotations


def run_bench(args, settings) -> dict:
    if args.what == "index":
        from growpilot.bench.index_bench import bench_index

        return bench_index(args.workspace, runs=args.runs, edits=args.edits, scale_chunks=args.scale_chunks)
    if args.what == "complete":
        from growpilot.bench.complete_bench import bench_complete

        return bench_complete(args, settings)
    if args.what == "backend":
        from growpilot.bench.backend_bench import bench_backend

        return bench_backend(args, settings)
    if args.what == "train":
        from growpilot.bench.train_bench import bench_train

        return bench_train(args, settings)
    raise ValueError(args.what)
