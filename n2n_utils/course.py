"""The EE-559 course interface (Miniproject 1), and the export of a standalone submission.

The course's grader imports `Miniproject_1/model.py`, builds `Model()`, and calls
`load_pretrained_model()`, `train(train_input, train_target, num_epochs)` and
`predict(test_input)` on tensors (N, 3, H, W) with values 0-255; predict returns float 0-255.

That file must run without this package, so the one implementation of `Model` is
course_template/model.py, which imports only torch and the standard library and is copied
verbatim by `export_course`. `Model` here is the same class, except that
`load_pretrained_model` loads the package's shipped default weights rather than a
`bestmodel.pth` beside model.py. `export_course` refuses weights that do not fit the network,
and runs the written folder as the grader would (`check_export`) before putting it in place.
"""

from __future__ import annotations

import shutil
import tempfile
import types
from pathlib import Path

import torch

from .course_template import model as template
from .files import check_writable, current_umask, save_torch
from .inference import predict
from .runs import fit_state_dict
from .weights import DEFAULT_WEIGHTS, load_weights, read_weights, weights_path

TEMPLATE = Path(template.__file__)
FOLDER = "Miniproject_1"


def course_state_dict(weights: str | Path = DEFAULT_WEIGHTS) -> dict[str, torch.Tensor]:
    """The state dict of shipped weights (name or path), checked to fit the course network
    (a Table I ResUNet ending in a ReLU) by loading it into one."""
    blob = read_weights(weights)
    config = blob["config"]
    if config.get("model") != "resunet" or config.get("final_activation") != "relu":
        raise ValueError(f"{weights}: the course network is a resunet with a final ReLU; these weights "
                         f"are model={config.get('model')!r}, final_activation={config.get('final_activation')!r}")
    fit_state_dict(template.ResUNet(), blob["state_dict"], weights_path(weights))
    return blob["state_dict"]


class Model(template.Model):
    """The course's Model (see course_template/model.py); pretrained = shipped default weights."""

    def load_pretrained_model(self) -> None:
        self.model.load_state_dict(course_state_dict(DEFAULT_WEIGHTS))


def check_export(folder: Path, weights: str | Path = DEFAULT_WEIGHTS) -> None:
    """Run an exported folder as the grader would: import its model.py (alone, without this
    package), `Model().load_pretrained_model()`, `predict` on random uint8 images; the output
    must be (N, 3, H, W) in 0-255 and match the package's network on the same weights."""
    source = folder / "model.py"
    module = types.ModuleType(f"_n2n_export_check_{FOLDER}")
    module.__file__ = str(source)
    try:
        exec(compile(source.read_text(), str(source), "exec"), module.__dict__)  # no __pycache__ left behind
        model = module.Model()
        model.load_pretrained_model()
        images = torch.randint(0, 256, (2, 3, 64, 32), dtype=torch.uint8, generator=torch.Generator().manual_seed(0))
        out = model.predict(images)
    except Exception as err:
        raise ValueError(f"{folder}: the exported model fails the self-check: {type(err).__name__}: "
                         f"{str(err).splitlines()[0] if str(err) else ''}") from err
    expected = predict(load_weights(weights, "cpu"), images) * 255
    if out.shape != images.shape or not torch.isfinite(out).all() or out.min() < 0 or out.max() > 255:
        raise ValueError(f"{folder}: the exported model fails the self-check: predict gave {tuple(out.shape)} "
                         f"{out.dtype}, not float (N, 3, H, W) in 0-255")
    gap = float((out.cpu() - expected).abs().max())
    if gap > 2.0:  # wrong weights differ by tens; a GPU's TF32 convolutions by under 1
        raise ValueError(f"{folder}: the exported model fails the self-check: its output differs from the "
                         f"package network's by up to {gap:.2f} (0-255)")


def export_course(out_dir: str | Path, weights: str | Path = DEFAULT_WEIGHTS, overwrite: bool = False) -> Path:
    """Write `out_dir/Miniproject_1/` with `__init__.py`, `model.py` (the template) and
    `bestmodel.pth` (the state dict of `weights`); return that folder. The folder is built
    beside its place, passes `check_export`, and only then takes that place: a failed export
    leaves no folder and an overwritten one whole. A non-empty existing folder is refused
    unless `overwrite`."""
    folder = Path(out_dir) / FOLDER
    if folder.exists() and not folder.is_dir():
        raise FileExistsError(f"{folder}: exists and is a file, not a folder")
    if folder.exists() and any(folder.iterdir()) and not overwrite:
        raise FileExistsError(f"{folder}: exists and is not empty; pass overwrite (--overwrite) to replace it")
    check_writable(folder)  # OUT_DIR a file, say: one line naming it, not "[Errno 17] File exists"
    state = course_state_dict(weights)
    folder.parent.mkdir(parents=True, exist_ok=True)
    build = Path(tempfile.mkdtemp(prefix=f".{FOLDER}.", dir=folder.parent))
    try:
        (build / "__init__.py").write_text("")
        shutil.copyfile(TEMPLATE, build / "model.py")
        save_torch(state, build / "bestmodel.pth")
        check_export(build, weights)
        build.chmod(0o777 & ~current_umask())  # mkdtemp makes 0700; the folder should read like any other
        if folder.exists():
            old = Path(tempfile.mkdtemp(prefix=f".{FOLDER}.old.", dir=folder.parent))
            folder.rename(old / FOLDER)
            build.rename(folder)
            shutil.rmtree(old)
        else:
            build.rename(folder)
    finally:
        if build.exists():
            shutil.rmtree(build)
    return folder

