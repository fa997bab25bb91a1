"""n2n_utils: the importable half of the n2n-study (Noise2Noise with the EE-559 Table I ResUNet).

The notebooks call these; each module holds one concern: config (paths, device, precision),
data, deadleaves and folders (datasets), noise, models, augment, training, metrics, sweeps, plots,
profiles, pipeline (papermill), estimate (a run's expected time), drift (a reproduction against
the committed results), classical (BM3D, NLM, TV, median), comparisons, generalisation, report,
pretrained, inference (tiled denoising of files), course (the EE-559 interface) and files
(atomic writes, provenance).
"""

from .data import DataFileError, DenoisingData, load_dataset
from .metrics import psnr, psnr_dataset
from .models import ResUNet, get_model, predict
from .noise import get_noise
from .pretrained import load_pretrained
from .training import TrainConfig, TrainResult, train

__all__ = [
    "DataFileError", "DenoisingData", "ResUNet", "TrainConfig", "TrainResult", "get_model",
    "get_noise", "load_dataset", "load_pretrained", "predict", "psnr", "psnr_dataset",
    "train",
]
__version__ = "0.1.0"
