"""`make bench`: chapter execution times, widget re-run latencies, framework step times, the time
to precompute each HTML explorer, and each built page's weight in a real browser.

Also `python -m vxglib.bench --execute NOTEBOOK...`, which re-runs chapters and stores their
outputs with no machine-specific metadata (what `make execute` calls).
"""
from __future__ import annotations

import argparse
import glob
import time
from pathlib import Path

KEEP_NOTEBOOK_METADATA = ("kernelspec", "language_info")


def execute_notebook(path: str | Path, save: bool = True, timeout: int = 600) -> float:
    """Run every cell of the notebook at `path` in a fresh kernel; return the seconds it took.

    With `save`, outputs are stored in place; execution timings, widget state and other
    machine-specific metadata are left out, and tracebacks name the project's files by relative
    path, so the file only changes when a result changes.
    """
    import nbformat
    from nbclient import NotebookClient

    path = Path(path)
    notebook = nbformat.read(path, as_version=4)
    client = NotebookClient(notebook, timeout=timeout, kernel_name="python3", record_timing=False,
                            store_widget_state=False, resources={"metadata": {"path": str(path.parent)}})
    start = time.perf_counter()
    client.execute()
    seconds = time.perf_counter() - start
    if save:
        notebook.metadata = {k: v for k, v in notebook.metadata.items() if k in KEEP_NOTEBOOK_METADATA}
        notebook.metadata.get("language_info", {}).pop("version", None)
        root = str(Path(__file__).resolve().parents[1]) + "/"  # the project: tracebacks name files from here
        for cell in notebook.cells:
            cell.metadata = {k: v for k, v in cell.metadata.items() if k == "tags"}
            for output in cell.get("outputs", []):
                if output.get("output_type") == "error":
                    output["traceback"] = [line.replace(root, "") for line in output["traceback"]]
        nbformat.write(notebook, path)
    return seconds


def framework_step_times(steps: int = 60) -> dict[str, float]:
    """Milliseconds per training step of the reference MLP (10 hidden layers of width 256, batch 64,
    Adam, digits data) in PyTorch and in compiled TensorFlow."""
    from . import data as datasets
    from .seeding import seed
    from .spec import MLPSpec, init_weights
    from .training import TrainConfig, train

    seed(0)
    digits = datasets.digits()
    spec = MLPSpec(digits.in_dim, 10, depth=10, width=256, activation="relu", init="he_normal")
    weights = init_weights(spec)
    config = TrainConfig(optimizer="adam", lr=1e-3, batch_size=64, epochs=10, max_steps=steps)
    times = {}
    for backend in ("torch", "keras"):
        train(spec, digits, config.__class__(**{**config.__dict__, "max_steps": 5}), backend, weights)  # warm-up, tracing
        _, history = train(spec, digits, config, backend, weights)
        times[backend] = 1000 * history.seconds / history.steps
    return times


def monitor_overheads() -> dict[str, float]:
    """The gradient monitor's extra time per training step of the reference MLP, as a fraction of a
    plain step, with its default recording interval (every 20 steps), in PyTorch and Keras."""
    from . import monitor_keras, monitor_torch

    return {"torch": monitor_torch.overhead(), "keras": monitor_keras.overhead()}


def explorer_and_page_rows(experiments: list, html: Path) -> list[str]:
    """Rows for the HTML book: each explorer's precompute time from scratch (what a clean book
    build pays) and each page's weight on a first visit in headless Chromium."""
    from . import explorer

    rows = []
    for experiment in experiments:
        start = time.perf_counter()
        runs = len(explorer.precompute(experiment)["runs"])
        rows.append(f"| explorer `{experiment.name}` precompute, {runs} runs | "
                    f"{time.perf_counter() - start:.1f} s | < 60 s |")
        print(rows[-1], flush=True)
    if not html.is_dir():
        rows.append(f"| page weights | not measured: no built book at {html} (make book) | < 5 MB |")
        print(rows[-1], flush=True)
        return rows
    from .browser import page_weights, toc_pages

    for page, (sent, decoded) in page_weights(html, toc_pages(html.parents[1])).items():
        rows.append(f"| page `{page}` transferred (gzip) | {sent / 1e6:.2f} MB "
                    f"({decoded / 1e6:.2f} MB uncompressed) | < 5 MB |")
        print(rows[-1], flush=True)
    return rows


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--execute", nargs="*", help="notebooks to re-run, storing their outputs")
    parser.add_argument("--chapters", default="chapters/*.ipynb", help="notebooks to time")
    parser.add_argument("--out", default="_build/bench.md", help="where to save the table")
    parser.add_argument("--html", default="_build/html", help="the built book, for page weights")
    args = parser.parse_args(argv)
    if args.execute is not None:
        for pattern in args.execute:
            for path in sorted(glob.glob(pattern)):
                print(f"{path}: {execute_notebook(path):.1f} s", flush=True)
        return

    import matplotlib

    matplotlib.use("Agg")
    from .experiments import all_experiments
    from .plots import use_style

    lines = ["| what | measured | target |", "|---|---|---|"]
    for path in sorted(glob.glob(args.chapters)):
        seconds = execute_notebook(path, save=False)
        lines.append(f"| chapter `{Path(path).name}` | {seconds:.1f} s | < 90 s |")
        print(lines[-1], flush=True)
    use_style()
    for experiment in all_experiments():
        experiment.time_default()  # first run pays for imports and tracing, as a reader's first click does
        lines.append(f"| widget `{experiment.name}` re-run | {experiment.time_default():.2f} s | < 3 s |")
        print(lines[-1], flush=True)
    for backend, ms in framework_step_times().items():
        lines.append(f"| reference MLP step, {backend} | {ms:.1f} ms | |")
        print(lines[-1], flush=True)
    for backend, fraction in monitor_overheads().items():
        lines.append(f"| gradient monitor overhead, reference MLP step, {backend} | {100 * fraction:.1f} % | <= 10 % |")
        print(lines[-1], flush=True)
    lines += explorer_and_page_rows(all_experiments(), Path(args.html))
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text("\n".join(lines) + "\n")
    print(f"saved to {out}")


if __name__ == "__main__":
    main()
