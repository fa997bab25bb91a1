"""Section 10, speed, from the throughput benchmark's JSON files (benchmarks/results/
throughput-*.json), and the README's copy of it between README_MARKERS.
"""

from __future__ import annotations

import pandas as pd

from .. import config
from ..config import describe_cpu
from ..records import read_record
from ..sweeps import NO_CI
from .words import markdown_table, not_run

README_MARKERS = ("<!-- speed:start (rendered by `make report`) -->", "<!-- speed:end -->")


def section_speed() -> str:
    """Section 10: per benchmark file, training and inference throughput (images/s, GFLOP/s and
    the fraction of the matmul peak), the fastest setting, tiled denoising and peak memory."""
    heading = "## 10. Speed"
    files = sorted(config.BENCHMARK_RESULTS_DIR.glob("throughput-*.json"))  # many-networks-*: its own schema
    if not files:
        return not_run(heading, "benchmark not run yet")
    parts = [f"{heading}\n\nFrom `python -m benchmarks.throughput` (JSON in `benchmarks/results/`): "
             "training images/s of the Table I ResUNet on 32x32 pairs, against the common per-sample "
             "DataLoader loop at the report's settings (`reference`), the FLOP rate as a fraction of a "
             "large matmul's in the same precision, and the validation PSNR after equal epochs (mean over "
             "seeds; the difference to fp32 at the same batch and seed, with its 95% CI). Speeds depend on "
             "the CPU (AVX-512, native bf16): each table names the one it was measured on."]
    for path in files:
        bench = read_record(path, "`make benchmark`")
        prov = bench["provenance"]
        train = pd.DataFrame(bench["settings"])[["name", "layout", "images_per_s", "speedup_vs_reference",
                                              "gflops_per_s", "fraction_of_peak", "psnr", "psnr_delta_db",
                                              "psnr_delta_ci95"]]
        # a gap to fp32 without a CI (one seed: null in the file) reads NO_CI, as in the benchmark's table
        gap = train["psnr_delta_db"].notna()
        train["psnr_delta_ci95"] = [NO_CI if has and pd.isna(half) else half
                                    for has, half in zip(gap, train["psnr_delta_ci95"], strict=True)]
        infer = pd.DataFrame(bench["inference"]["rows"])[["name", "images_per_s", "gflops_per_s", "fraction_of_peak"]]
        tiled = bench["tiled_denoise"]
        parts.append(f"**{path.name}** ({prov.get('device')}, torch {prov.get('torch')}, "
                     f"commit `{prov.get('git_commit')}`)"
                     f"\n\nCPU: {describe_cpu(prov.get('cpu'))}."
                     f"\n\n{markdown_table(train, ('g', 'g', '.0f', '.2f', '.0f', '.2f', '.2f', '.2f', '.2f'))}"
                     f"\n\nInference, 32x32, batch {bench['inference']['batch']}:\n\n"
                     f"{markdown_table(infer, ('g', '.0f', '.0f', '.2f'))}\n\n"
                     f"{_fastest(bench)}"
                     f"Tiled denoising of a {tiled['image_shape']} image (tile {tiled['tile']}): "
                     f"{tiled['megapixels_per_s']:.2f} megapixels/s. "
                     f"Peak training memory at the default batch: {bench['memory']['peak_mib']:.0f} MiB.")
    return "\n\n".join(parts)


def _fastest(bench: dict) -> str:
    """One sentence on the fastest training setting, from a benchmark's results."""
    rows = [r for r in bench["settings"] if r.get("images_per_s")]
    best = max(rows, key=lambda r: r["images_per_s"])
    ci = best.get("psnr_delta_ci95")
    spread = (" dB from fp32's (one seed: no CI)" if ci is None or pd.isna(ci)
              else f" ± {ci:.2f} dB from fp32's (95% CI over seeds)")
    quality = (f", and after equal epochs its PSNR is {best['psnr_delta_db']:+.2f}{spread}"
               if best.get("psnr_delta_db") is not None else "")
    return (f"The fastest setting, {best['name']}, trains {best['speedup_vs_reference']:.2f}x as fast as "
            f"`reference` at {best['fraction_of_peak']:.0%} of the matmul peak in its precision{quality}. ")


def render_readme(readme: str) -> str:
    """README.md's text with its speed block (between README_MARKERS) rendered from
    benchmarks/results/; a README without both markers comes back as it was."""
    start, end = README_MARKERS
    if start not in readme or end not in readme:
        return readme
    head, rest = readme.split(start, 1)
    body = section_speed().split("\n", 2)[2]  # without the report's heading
    return f"{head}{start}\n{body}\n{end}{rest.split(end, 1)[1]}"
