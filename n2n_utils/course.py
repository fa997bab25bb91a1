"""The EE-559 course interface (Miniproject 1), and the export of a standalone submission.

The course's grader imports `Miniproject_1/model.py`, builds `Model()`, and calls
`load_pretrained_model()`, `train(train_input, train_target, num_epochs)` and
`predict(test_input)` on tensors (N, 3, H, W) with values 0-255; predict returns float 0-255.

That file must run without this package, so the one implementation of `Model` is
course_template/model.py, which imports only torch and the standard library and is copied
verbatim by `export_course`. `Model` here is the same class, except that
`load_pretrained_model` loads the package's shipped default weights rather than a
`bestmodel.pth` beside model.py.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import torch

from .course_template import model as template
from .files import save_torch, write_atomic
from .weights import DEFAULT_WEIGHTS, read_weights

TEMPLATE = Path(template.__file__)
FOLDER = "Miniproject_1"


def course_state_dict(weights: str | Path = DEFAULT_WEIGHTS) -> dict[str, torch.Tensor]:
    """The state dict of shipped weights (name or path), checked to fit the course network
    (a Table I ResUNet ending in a ReLU)."""
    blob = read_weights(weights)
    config = blob["config"]
    if config.get("model") != "resunet" or config.get("final_activation") != "relu":
        raise ValueError(f"{weights}: the course network is a resunet with a final ReLU; these weights "
                         f"are model={config.get('model')!r}, final_activation={config.get('final_activation')!r}")
    return blob["state_dict"]


class Model(template.Model):
    """The course's Model (see course_template/model.py); pretrained = shipped default weights."""

    def load_pretrained_model(self) -> None:
        self.model.load_state_dict(course_state_dict(DEFAULT_WEIGHTS))


def export_course(out_dir: str | Path, weights: str | Path = DEFAULT_WEIGHTS, overwrite: bool = False) -> Path:
    """Write `out_dir/Miniproject_1/` with `__init__.py`, `model.py` (the template) and
    `bestmodel.pth` (the state dict of `weights`); return that folder. A non-empty existing
    folder is refused unless `overwrite`."""
    folder = Path(out_dir) / FOLDER
    if folder.exists() and any(folder.iterdir()) and not overwrite:
        raise FileExistsError(f"{folder}: exists and is not empty; pass overwrite (--overwrite) to replace it")
    state = course_state_dict(weights)
    write_atomic(folder / "__init__.py", lambda tmp: tmp.write_text(""))
    write_atomic(folder / "model.py", lambda tmp: shutil.copyfile(TEMPLATE, tmp))
    save_torch(state, folder / "bestmodel.pth")
    return folder
