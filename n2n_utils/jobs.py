"""Denoise jobs: where each input's result goes (`output_paths`) and which (input, output)
pairs can run (`plan_jobs`), all decided from the file names and headers before the network
loads and before anything is written. `n2n denoise` (n2n_utils.__main__) runs them."""

from __future__ import annotations

import os
from pathlib import Path

from .images import WRITE_FORMATS, ImageError, check_output, check_paths, probe_image

SUFFIX = "_denoised"  # NAME_denoised.EXT, beside each input, without -o


def _written_suffix(path: Path) -> str:
    """The extension an output named after `path` gets: its own where it can be written, else
    .png (a PPM, TGA or JFIF input, say, which Pillow reads but this tool does not write)."""
    return path.suffix if path.suffix.lower() in WRITE_FORMATS else ".png"


def output_paths(inputs: list[Path], output: str | None) -> list[Path]:
    """Where each input's result goes: `-o FILE` for one input; `-o FOLDER` (an existing folder,
    a name ending in a slash, or any -o with several inputs) keeps the names; no -o puts
    `NAME_denoised.EXT` beside each. An input whose extension cannot be written keeps its name
    with .png. A file (an existing one, or a name with an image extension) for several inputs,
    or an -o for one input that is neither an existing folder nor a name with an extension, is a
    ValueError."""
    if output is None:
        return [p.with_name(f"{p.stem}{SUFFIX}{_written_suffix(p)}") for p in inputs]
    out = Path(output)
    folder = out.is_dir() or output.endswith(("/", os.sep))  # Path drops the slash that says "a folder"
    if len(inputs) > 1 and not folder and (out.suffix.lower() in WRITE_FORMATS or out.exists()):
        raise ValueError(f"-o {output}: {'is' if out.exists() else 'names'} one file, but {len(inputs)} inputs "
                         f"were given; name a folder for their results")
    if len(inputs) == 1 and not folder and not out.suffix:
        raise ValueError(f"-o {output}: no extension, so neither an image file nor a folder; name a file "
                         f"ending in {', '.join(sorted(WRITE_FORMATS))}, or a folder as {output}{os.sep}")
    if len(inputs) > 1 or folder:
        return [out / p.with_suffix(_written_suffix(p)).name for p in inputs]
    return [out]


def plan_jobs(pairs: list[tuple[Path, Path]], overwrite: bool,
              estimate_side: int = 0) -> tuple[list[tuple[Path, Path]], list[str]]:
    """The (input, output) jobs that can run, and one message for each refused, all decided
    before anything is written. `estimate_side`: with --sigma auto, the fewest pixels on each
    side an input needs for its noise level to be estimated (blind.ESTIMATE_MIN_SIDE; read from
    the file's header). Besides each job's own checks, a job whose output is an input
    of a later job is refused, and that later job too: run in order, the first would replace
    the second's input before it is read (the second's result would be the first's input
    denoised twice)."""
    reader = {src.resolve(): i for i, (src, _) in enumerate(pairs)}
    refused: dict[int, str] = {}
    for i, (src, dst) in enumerate(pairs):
        j = reader.get(dst.resolve())
        if j is not None and j > i:
            refused[i] = (f"{dst}: is also an input of this call, read after {src}'s result would "
                          f"replace it; denoise them in two calls")
            refused[j] = (f"{pairs[j][0]}: is the output of {src}, an earlier input of this call; "
                          f"denoise them in two calls")
    jobs, errors, taken = [], [], {}  # taken: output -> the input whose output it is
    for i, (src, dst) in enumerate(pairs):
        try:  # everything that can be checked is checked before the network loads
            if i in refused:
                raise ImageError(refused[i])
            if (earlier := taken.get(dst.resolve())) is not None:
                raise ImageError(f"{src}: given twice; denoised once, into {dst}" if earlier.resolve() == src.resolve()
                                 else f"{src}: its output {dst} is {earlier}'s too; "
                                      "denoise it in a call of its own, with its own -o")
            height, width, channels, dtype = probe_image(src)
            if min(height, width) < estimate_side:  # the estimate would read nothing (0 for one row)
                raise ImageError(f"{src}: {width}x{height} pixels, too small to estimate the noise level "
                                 f"(--sigma auto needs {estimate_side} pixels on each side); give --sigma in 1/255")
            check_paths(src, dst, overwrite)
            check_output(dst, dtype, channels)
        except ImageError as err:
            errors.append(str(err))
            continue
        taken[dst.resolve()] = src
        jobs.append((src, dst))
    return jobs, errors
