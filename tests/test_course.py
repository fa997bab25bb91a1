"""The EE-559 interface, tested as the course's grader uses it: the exported Miniproject_1/
folder imported from a temporary directory, with the n2n_utils package made unimportable."""

from __future__ import annotations

import ast
import importlib
import sys
from pathlib import Path

import pytest
import torch

from n2n_utils import course
from n2n_utils.course import FOLDER, TEMPLATE, export_course
from n2n_utils.data import load_dataset
from n2n_utils.metrics import psnr
from n2n_utils.models import ResUNet
from n2n_utils.weights import load_weights


@pytest.fixture(scope="module")
def exported(tmp_path_factory) -> Path:
    return export_course(tmp_path_factory.mktemp("submission"))


@pytest.fixture(scope="module")
def grader_module(exported):
    """`from Miniproject_1.model import Model`, as the grader does, without n2n_utils."""
    with pytest.MonkeyPatch.context() as mp:
        mp.syspath_prepend(str(exported.parent))
        for name in [n for n in sys.modules if n == "n2n_utils" or n.startswith("n2n_utils.")]:
            mp.setitem(sys.modules, name, None)  # any import of the package now fails
        for name in [n for n in sys.modules if n == FOLDER or n.startswith(FOLDER + ".")]:
            mp.delitem(sys.modules, name)
        module = importlib.import_module(f"{FOLDER}.model")
        mp.delitem(sys.modules, f"{FOLDER}.model")
        mp.delitem(sys.modules, FOLDER)
    assert Path(module.__file__).parent == exported
    return module


@pytest.fixture(scope="module")
def data():
    return load_dataset("natural32", n_train=1000, n_val=200)


def noisy_psnr(data) -> float:
    return psnr(data.val_input.float() / 255, data.val_clean.float() / 255)


def test_the_folder_holds_what_the_grader_expects(exported):
    assert exported.name == FOLDER
    assert sorted(p.name for p in exported.iterdir()) == ["__init__.py", "bestmodel.pth", "model.py"]
    assert (exported / "model.py").read_bytes() == TEMPLATE.read_bytes()
    state = torch.load(exported / "bestmodel.pth", weights_only=True)
    assert list(state) == list(ResUNet().state_dict())
    assert all(torch.equal(v, w) for v, w in zip(state.values(), load_weights(device="cpu").state_dict().values(),
                                                  strict=True))


def test_model_py_imports_only_torch_and_the_standard_library(exported):
    tree = ast.parse((exported / "model.py").read_text())
    roots = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            roots |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            assert node.level == 0, "relative import"
            roots.add(node.module.split(".")[0])
    assert "torch" in roots
    assert {r for r in roots if r != "torch" and r not in sys.stdlib_module_names} == set()


def test_the_copied_network_is_the_package_network(grader_module):
    torch.manual_seed(0)
    ours = ResUNet().eval()
    torch.manual_seed(0)
    theirs = grader_module.ResUNet().eval()
    for (name, p), q in zip(ours.state_dict().items(), theirs.state_dict().values(), strict=True):
        assert torch.equal(p, q), f"{name}: the copy initialises differently"
    torch.manual_seed(1)
    theirs = grader_module.ResUNet().eval()
    theirs.load_state_dict(ours.state_dict())  # strict: same names and shapes
    assert list(theirs.state_dict()) == list(ours.state_dict())
    x = torch.rand(2, 3, 64, 96)
    with torch.no_grad():
        torch.testing.assert_close(theirs(x), ours(x), rtol=0, atol=1e-6)


def test_predict_on_the_graders_512_input(grader_module):
    model = grader_module.Model()
    model.load_pretrained_model()
    x = torch.randint(0, 256, (1, 3, 512, 512))
    y = model.predict(x)
    assert y.shape == x.shape and y.is_floating_point()
    assert 0 <= y.min() and y.max() <= 255
    odd = torch.randint(0, 256, (2, 3, 40, 50), dtype=torch.uint8)  # sides not multiples of 32
    assert model.predict(odd).shape == odd.shape


def test_pretrained_beats_the_noisy_input(grader_module, data):
    model = grader_module.Model()
    model.load_pretrained_model()
    assert psnr(model.predict(data.val_input) / 255, data.val_clean.float() / 255) > noisy_psnr(data) + 3


@pytest.mark.slow
def test_one_epoch_from_scratch_beats_the_noisy_input(grader_module, data):
    torch.manual_seed(0)
    model = grader_module.Model()
    # 512 pairs, 64 steps: about +2.5 dB, where 320 pairs (40 steps) reach +0.8 dB
    model.train(data.train_input[:512], data.train_target[:512], num_epochs=1)
    assert psnr(model.predict(data.val_input) / 255, data.val_clean.float() / 255) > noisy_psnr(data) + 1


def test_the_package_model_loads_the_shipped_weights():
    model = course.Model()
    model.load_pretrained_model()
    reference = load_weights(device="cpu")
    x = torch.randint(0, 256, (1, 3, 32, 64))
    with torch.no_grad():
        expected = reference(x.float() / 255).clamp(0, 1) * 255
    torch.testing.assert_close(model.predict(x), expected, rtol=0, atol=1e-4)


def test_export_refuses_a_non_empty_folder_unless_asked(exported):
    with pytest.raises(FileExistsError, match="overwrite"):
        export_course(exported.parent)
    assert export_course(exported.parent, overwrite=True) == exported
