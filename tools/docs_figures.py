"""Figures in README.md and docs/: generated from the JSON figure sources in docs/figures/.

A page marks each generated block with ``<!-- figures:NAME -->`` ... ``<!-- /figures:NAME -->``;
the block is rendered from ``docs/figures/NAME.json``. Two kinds of source:

- ``demo.json`` is what ``make demo`` writes: ``--from reports/`` reads ``reports/metrics/*.json``
  and ``reports/breakdown.json`` of a demo run and rewrites it (PSNR to 2 decimals, SSIM to 4,
  as the pages show them).
- every other source is a measurement that no command of the demo repeats (held-out real
  photos, benchmarks, another machine): it names its ``command``, the date it was ``measured``
  and the ``machine``, and the block says so beside the figures.

Usage::

    python tools/docs_figures.py                   # rewrite the marked blocks of every page
    python tools/docs_figures.py --check           # exit 1 when a page differs from its sources
    python tools/docs_figures.py --from reports/   # demo.json from a demo run, then the pages
    python tools/docs_figures.py --from reports/ --check   # also: demo.json == reports/?

Standard library and the metrics package's PSNR cap only (no numpy or torch work).
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

from exposure_core.metrics.scores import PSNR_CAP

ROOT = Path(__file__).resolve().parent.parent
FIGURES = ROOT / "docs" / "figures"
MARKER = re.compile(
    r"(<!-- figures:(?P<name>[a-z0-9-]+) -->\n)(?P<body>.*?)(<!-- /figures:(?P=name) -->)", re.S
)

# demo table: method keys of reports/metrics in row order, and their labels
DEMO_METHODS = {
    "model": "**model** (`train.seed: 0`, the default)",
    "auto_exposure": "auto-exposure (blind)",
    "identity": "identity",
    "clahe": "CLAHE",
    "he": "histogram equalisation",
    "oracle": "oracle: inverse transform with the known tau/EV (not blind)",
}
# columns: report group -> label; "unchanged" pairs are not ranked (no bold there)
DEMO_KINDS = {
    "all": "all",
    "overexpose": "tau clipping",
    "ev_over": "EV > 0",
    "ev_under": "EV < 0",
    "unchanged": "input = target",
}
RANKED = ("model", "auto_exposure", "identity", "clahe", "he")  # the oracle is not blind
UNCHANGED_NOTE = re.compile(r"^- model: (\d+) of \d+ inputs judged well exposed", re.M)


def pages(root: Path = ROOT) -> list[Path]:
    """Every page that may hold marked blocks: README.md and docs/**/*.md."""
    return [root / "README.md", *sorted((root / "docs").rglob("*.md"))]


def load(name: str, figures: Path = FIGURES) -> dict:
    path = figures / f"{name}.json"
    if not path.is_file():
        raise SystemExit(f"error: {path}: no figure source for <!-- figures:{name} -->")
    return json.loads(path.read_text(encoding="utf-8"))


def table(header: list[str], rows: list[list[str]]) -> list[str]:
    out = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return out + ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]


def provenance(source: dict) -> str:
    """The line that says where measured figures come from."""
    machine = f" ({source['machine']})" if source.get("machine") else ""
    return f"*Measured with {source['command']} on {source['measured']}{machine}.*"


def render_measured(source: dict) -> list[str]:
    out: list[str] = []
    if "table" in source:
        out += [*table(source["table"]["header"], source["table"]["rows"]), ""]
    for note in source.get("notes", []):
        out += [note, ""]
    return [*out, provenance(source)]


def _cell(scores: dict, method: str, kind: str, best: dict[str, float]) -> str:
    psnr, ssim = scores["psnr"], scores["ssim"]
    if psnr >= PSNR_CAP:
        return "100 (cap)"
    p, s = f"{psnr:.2f}", f"{ssim:.4f}"
    ranked = method in RANKED and kind != "unchanged"
    top_p, top_s = ranked and psnr == best["psnr"], ranked and ssim == best["ssim"]
    if top_p and top_s:
        return f"**{p} / {s}**"
    return f"{f'**{p}**' if top_p else p} / {f'**{s}**' if top_s else s}"


def render_demo(source: dict) -> list[str]:
    metrics, counts = source["metrics"], source["counts"]
    header = ["method"] + [f"{label} ({counts[k]})" for k, label in DEMO_KINDS.items()]
    rows = []
    for method, label in DEMO_METHODS.items():
        row = [label]
        for kind in DEMO_KINDS:
            ranked = [metrics[m][kind] for m in RANKED]
            best = {key: max(s[key] for s in ranked) for key in ("psnr", "ssim")}
            row.append(_cell(metrics[method][kind], method, kind, best))
        rows.append(row)
    unchanged = source["returned_unchanged"]
    return [
        *table(header, rows),
        "",
        f"PSNR (dB) / SSIM, {source['test_images']} test inputs; `prep enhance`'s gate "
        f"returned {unchanged} of them unchanged. Bold: the best of the model and the blind "
        "baselines per column. *Written by `make demo` (`reports/metrics/`, "
        "`reports/breakdown.json`); copied here by `python tools/docs_figures.py --from "
        "reports/`.*",
    ]


def _difference(here: dict, there: dict) -> str:
    dp, ds = here["psnr"] - there["psnr"], here["ssim"] - there["ssim"]
    if round(dp, 2) == 0 and round(ds, 4) == 0:
        return "same"
    return f"{dp:+.2f} / {ds:+.4f}"


def render_machines(source: dict, figures: Path) -> list[str]:
    """The demo scores of this repository's reference run minus another machine's run."""
    here, there = load("demo", figures)["metrics"], source["metrics"]
    header = ["method", *DEMO_KINDS.values()]
    rows = [
        [label.replace("**", ""), *(_difference(here[m][k], there[m][k]) for k in DEMO_KINDS)]
        for m, label in DEMO_METHODS.items()
    ]
    return [
        *table(header, rows),
        "",
        "PSNR (dB) / SSIM of `docs/figures/demo.json` (the reference run of `dvc.lock`) minus "
        "the other machine's run; *same*: equal to the digits shown.",
        "",
        provenance(source),
    ]


def render(name: str, figures: Path = FIGURES) -> str:
    source = load(name, figures)
    if name == "demo":
        lines = render_demo(source)
    elif name == "machines":
        lines = render_machines(source, figures)
    else:
        lines = render_measured(source)
    return "\n".join(lines) + "\n"


def regenerate(text: str, figures: Path = FIGURES) -> str:
    """``text`` with every marked block rendered from its source."""
    return MARKER.sub(lambda m: m.group(1) + render(m.group("name"), figures) + m.group(4), text)


def demo_from_reports(reports: Path) -> dict:
    """The figures of ``demo.json`` as a demo run's ``reports/`` folder holds them."""
    metrics = {}
    for method in DEMO_METHODS:
        data = json.loads((reports / "metrics" / f"{method}.json").read_text(encoding="utf-8"))
        metrics[method] = {
            kind: {"psnr": round(data[kind]["psnr"], 2), "ssim": round(data[kind]["ssim"], 4)}
            for kind in DEMO_KINDS
        }
    test = json.loads((reports / "breakdown.json").read_text(encoding="utf-8"))["test"]
    counts = {kind: test["by_kind"][kind]["model"]["n"] for kind in DEMO_KINDS}
    # the gate's count is a note of the report for people: "model: 3 of 9 inputs judged ..."
    note = UNCHANGED_NOTE.search((reports / "README.md").read_text(encoding="utf-8"))
    return {
        "command": "make demo",
        "metrics": metrics,
        "counts": counts,
        "test_images": test["n_images"],
        "returned_unchanged": int(note.group(1)) if note else 0,
    }


def dump(data: dict) -> str:
    return json.dumps(data, indent=2, ensure_ascii=False) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--from", dest="reports", type=Path, help="a demo run's reports/")
    parser.add_argument("--check", action="store_true", help="compare only, write nothing")
    args = parser.parse_args(argv)
    stale: list[str] = []
    if args.reports is not None:
        fresh = dump(demo_from_reports(args.reports))
        target = FIGURES / "demo.json"
        if target.is_file() and target.read_text(encoding="utf-8") == fresh:
            pass
        elif args.check:
            stale.append(f"{target.relative_to(ROOT)} differs from {args.reports}")
        else:
            target.write_text(fresh, encoding="utf-8")
    for page in pages():
        text = page.read_text(encoding="utf-8")
        new = regenerate(text)
        if new == text:
            continue
        if args.check:
            stale.append(f"{page.relative_to(ROOT)} differs from docs/figures/")
        else:
            page.write_text(new, encoding="utf-8")
    for line in stale:
        print(f"stale: {line}", file=sys.stderr)
    if stale:
        print("run: python tools/docs_figures.py [--from reports/]", file=sys.stderr)
    return 1 if stale else 0


if __name__ == "__main__":
    sys.exit(main())
