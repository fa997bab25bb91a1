"""n2n_utils: the importable half of the n2n-study (Noise2Noise with the EE-559 Table I ResUNet).

The notebooks call these; each module holds one concern: config (paths, device, CPU, precision),
layout (channels_last or NCHW, measured once per machine), data (a package: natural32, dead leaves,
folders of photos, course files), noise, models, augment, runs (TrainConfig, run keys), training,
many (several networks in one pass), inference (predict, tiled denoising), images (image files:
reading, checking, writing), metrics, seeds (several seeds of a run: their mean with a CI), sweeps,
plots, profiles, pipeline (papermill), estimate (a run's expected time), drift (a reproduction
against the committed results), classical (BM3D, NLM, TV, median), comparisons, gaps (their gaps
paired crop by crop, the headline), generalisation, findings (each notebook's closing sentence),
notebooks (setup, the sweeps), report (a package that renders report/report.md: results files, their
words, the sections), weights (shipped weights), blind (noise-level estimate, the weights for it),
explore (notebook 07's widgets), screenshot (the README's picture of them), course (the EE-559
interface; its course_template, the standalone submission), files (atomic writes, provenance),
records (reading results files: one line naming a damaged one),
and for the command line (__main__): options (its argument types) and jobs (where denoise's
outputs go, which of its jobs can run).
"""

from importlib import import_module

# The front door's names and the module each lives in, imported on first use: `n2n denoise`,
# which loads weights, never imports the training engine.
_EXPORTS = {
    "DataFileError": "data", "DenoisingData": "data", "load_dataset": "data",
    "predict": "inference",
    "psnr": "metrics", "psnr_dataset": "metrics",
    "ResUNet": "models", "get_model": "models",
    "get_noise": "noise",
    "load_weights": "weights",
    "TrainConfig": "runs",
    "TrainResult": "training", "train": "training",
}
__all__ = sorted(_EXPORTS)
__version__ = "0.1.0"


def __getattr__(name: str):
    if name not in _EXPORTS:
        raise AttributeError(f"module 'n2n_utils' has no attribute {name!r}")
    return getattr(import_module(f".{_EXPORTS[name]}", __name__), name)


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_EXPORTS))
