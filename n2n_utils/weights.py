"""Shipped weights: load a trained denoiser by name, and turn a training checkpoint into one.

One name throughout: shipped weights (`n2n list-weights`, `--weights`; `list_weights`,
`load_weights`; this module, beside the folder `weights/` that holds them).

A shipped weights file is `n2n_utils/weights/<name>.pt`, a small dict saved with torch.save:

    state_dict  the network's parameters (float32)
    config      the TrainConfig it was trained with, as a dict (model, final_activation, ...)
    card        how it was made: data, noise, profile, epochs, device, validation PSNR (dB) of
                the output and of the noisy input, git commit, date; `init` when it went on
                from earlier weights (`init_record`)

and beside it `<name>.md`, the same card for humans. `export_weights` is the only writer of
both, so a better-trained file replaces the provisional one by the same path:

    export_weights("runs/full/checkpoint.pt", profile="full", device="cuda (NVIDIA H100)", overwrite=True)

Files are read with torch.load(weights_only=True): tensors and plain values only.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import torch
from torch import nn

from .config import WEIGHTS_DIR, OptionError, resolve_device
from .files import atomic_path, check_writable, provenance, write_atomic
from .models import get_model
from .noise import params_words
from .runs import TrainConfig, check_state_dict, fit_state_dict, is_bare_state_dict, load_checkpoint

DEFAULT_WEIGHTS = "resunet-natural32-gaussian25"
SUFFIX = ".pt"


def list_weights(weights_dir: Path = WEIGHTS_DIR) -> list[str]:
    """The names of the shipped weights files, sorted."""
    return sorted(p.stem for p in Path(weights_dir).glob(f"*{SUFFIX}"))


def check_name(name: str) -> None:
    """Refuse a weights name that is not a plain file name: empty, a path ("a/b", "..") or hidden
    (".x"), which would be written outside `weights_dir` or missed by `list_weights` (OptionError)."""
    if not name or name != Path(name).name or name.startswith("."):
        raise OptionError("name", repr(name), "not a weights name: give a plain name like my-weights "
                          "(the folder is --weights-dir)")
    if name.endswith(SUFFIX):  # the file would be NAME.pt.pt, and the name to use it by NAME.pt
        raise OptionError("name", repr(name), f"give the name without {SUFFIX} ({name[:-len(SUFFIX)]}): "
                          f"the file is NAME{SUFFIX}")


def check_export(name: str, weights_dir: Path = WEIGHTS_DIR, overwrite: bool = False) -> Path:
    """The file `export_weights` would write for `name`, checked before anything is: a plain name,
    a folder that can take it, and no weights of that name already there unless `overwrite`
    (the shipped ones among them: nothing is replaced by accident)."""
    check_name(name)
    path = Path(weights_dir) / f"{name}{SUFFIX}"
    if path.exists() and not overwrite:
        raise FileExistsError(f"{path}: weights of this name exist; choose another name, or overwrite to replace them")
    check_writable(path)  # one line naming the file, before either file is written
    return path


def weights_path(name_or_path: str | Path, weights_dir: Path = WEIGHTS_DIR) -> Path:
    """Resolve a shipped name ("resunet-natural32-gaussian25") or a file path to an existing file."""
    path = Path(name_or_path)
    if path.is_file():
        return path
    shipped = Path(weights_dir) / f"{name_or_path}{SUFFIX}"
    if shipped.is_file():
        return shipped
    raise FileNotFoundError(f"no weights {str(name_or_path)!r}: neither a file nor a shipped name; "
                            f"shipped: {list_weights(weights_dir) or 'none'}; weights exported to another "
                            f"--weights-dir are named by their file, DIR/NAME{SUFFIX}")


def read_weights(name_or_path: str | Path = DEFAULT_WEIGHTS) -> dict:
    """The shipped dict {state_dict, config, card} of a name or path, on the CPU, checked:
    a mapping of finite tensors, a config and a card that are mappings (ValueError naming the
    file otherwise).

    A training checkpoint written by `training.train` ({model, optimizer, config, ...}) is
    accepted too, and returned in the same shape with the card it would get from export_weights
    (profile "unexported")."""
    path = weights_path(name_or_path)
    blob = load_checkpoint(path, "cpu")
    if isinstance(blob, dict) and {"state_dict", "config", "card"} <= blob.keys():
        weights = blob
    elif isinstance(blob, dict) and {"model", "config"} <= blob.keys() and isinstance(blob["config"], dict):
        weights = {"state_dict": blob["model"], "config": blob["config"],
                   "card": _card_from_checkpoint(blob, profile="unexported")}
    elif is_bare_state_dict(blob):
        raise ValueError(f"{path}: only a network's tensors (a bare state dict, as the course's bestmodel.pth), "
                         f"without the config that says which network; give the weights file or training "
                         f"checkpoint it came from")
    else:
        raise ValueError(f"{path}: not a weights file: expected keys state_dict, config, card "
                         f"(or a training checkpoint's model, config)")
    for key in ("config", "card"):
        if not isinstance(weights[key], dict):
            raise ValueError(f"{path}: its {key} should be a mapping, found {type(weights[key]).__name__}")
    check_state_dict(weights["state_dict"], path)
    return weights


def load_weights(name_or_path: str | Path = DEFAULT_WEIGHTS,
                    device: str | torch.device = "auto") -> nn.Module:
    """A ready network in eval mode on `device`, from a shipped name or a path.
    Called directly, the network takes float (B, 3, H, W) images in 0-1 with H and W multiples
    of 32 and returns the same scale, unclamped. To denoise, pass it to inference.denoise_array
    (uint8 or uint16 arrays of any size) or inference.predict, whose input holds values 0-255
    (uint8, or floats 0-255: a 0-1 float image must be multiplied by 255 first) and whose output
    is float 0-1."""
    return build_network(read_weights(name_or_path), weights_path(name_or_path), device)


def build_network(weights: dict, path: Path, device: str | torch.device = "auto") -> nn.Module:
    """`load_weights`' network from weights already read (`read_weights`' dict, from the file
    `path`, which errors name): for a caller that needs the card too, so that the file is read
    once."""
    try:
        config = TrainConfig.from_dict(weights["config"])
        model = get_model(config.model, final_activation=config.final_activation)
    except (TypeError, ValueError) as err:
        raise ValueError(f"{path}: its config does not describe a network: {err}") from None
    fit_state_dict(model, weights["state_dict"], path)
    return model.to(resolve_device(device)).eval()


def images_before(card: dict) -> int:
    """Training images of the earlier weights a card's run went on from: every round its `init`
    record counts (`images_seen`; a record from before those were kept: its one run's n_train x
    epochs), 0 for a run from scratch."""
    init = card.get("init") or {}
    return init.get("images_seen", (init.get("n_train") or 0) * (init.get("epochs") or 0))


def images_seen(card: dict) -> int:
    """Training images that weights have seen in all: their card's own run (n_train pairs x
    epochs) plus images_before, when it went on from earlier weights."""
    return (card.get("n_train") or 0) * (card.get("epochs") or 0) + images_before(card)


def init_record(name_or_path: str | Path) -> dict:
    """What a run that starts from these weights (`TrainConfig.init`) keeps of them, for its card's
    `init`: their last run (profile, git_commit, data, noise and its parameters (another noise's weights
    may start a run: it says so), n_train, epochs, data_seed, crop side in pixels,
    val_psnr in dB, device, train_seconds) and, over all their rounds, `rounds`, `images_seen` and
    `all_train_seconds`. Taken when the run starts, so that it stays true if the file is replaced."""
    card = read_weights(name_or_path)["card"]
    earlier = card.get("init") or {}
    seconds = float(sum(row.get("seconds", 0.0) for row in card.get("history") or []))
    earlier_seconds = earlier.get("all_train_seconds", earlier.get("train_seconds", 0.0))
    last_run = ("profile", "git_commit", "data", "noise", "noise_params", "n_train", "epochs", "data_seed", "val_psnr",
                "device")
    return {**{k: card.get(k) for k in last_run},
            "crop": card.get("crop", 32), "train_seconds": seconds,
            "rounds": earlier.get("rounds", 1) + 1 if earlier else 1,
            "images_seen": images_seen(card), "all_train_seconds": seconds + earlier_seconds}


def _card_from_checkpoint(ckpt: dict, profile: str, **extra: Any) -> dict:
    data = dict(ckpt.get("data") or {})
    history = list(ckpt.get("history") or [])
    params = data.get("noise_params") or {}
    trained_at = {"git_commit": ckpt["git_commit"]} if "git_commit" in ckpt else {}
    return {
        "profile": profile,
        "data": data.get("name", "unknown"),
        "noise": data.get("noise", "unknown"),
        "noise_params": params,
        "n_train": data.get("n_train"),
        "n_val": data.get("n_val"),
        "data_seed": data.get("seed"),
        # natural32's photos by name; a folder's (data.folders) by file name
        "train_photos": data.get("train_photos", data.get("train_files")),
        "val_photos": data.get("val_photos", data.get("val_files")),
        **({"crop": data["crop"]} if "crop" in data else {}),  # a side other than 32 pixels
        "epochs": ckpt.get("epoch", len(history)),
        "device": ckpt.get("device", "not recorded"),
        "val_psnr": float(history[-1]["val_psnr"]) if history else None,
        "val_psnr_noisy": None,
        "history": [{k: float(v) for k, v in row.items()} for row in history],
        **({"init": ckpt["init"]} if ckpt.get("init") else {}),  # the weights it went on from
        # cards are published: no host; the commit that trained it, where the checkpoint kept it
        **{k: v for k, v in provenance(**{**trained_at, **extra}).items() if k != "host"},
    }


def export_weights(checkpoint_path: str | Path, name: str = DEFAULT_WEIGHTS, *, profile: str,
                   weights_dir: Path = WEIGHTS_DIR, overwrite: bool = False, **card_fields: Any) -> Path:
    """Turn a training checkpoint (from `training.train`) into a shipped weights file and its
    model card `<name>.md`, both written atomically. Returns the weights file's path.

    overwrite: replace weights of the same name (FileExistsError otherwise; see check_export).
    profile: what run made it ("smoke", "quick", "full", "provisional" ...), said on the card.
    card_fields: anything else the card should say and the checkpoint does not hold, e.g.
        device="cpu (2 threads)", val_psnr_noisy=20.3 (dB of the noisy input on the same
        validation set), notes="...". They override the fields read from the checkpoint;
        git_commit and device come from the checkpoint (a checkpoint from before they were
        kept: the repository's commit at export time, and "not recorded").
    """
    ckpt = load_checkpoint(checkpoint_path, "cpu")
    if not isinstance(ckpt, dict) or not {"model", "config"} <= ckpt.keys():
        raise ValueError(f"{checkpoint_path}: not a training checkpoint (needs keys model, config)")
    config = TrainConfig.from_dict(ckpt["config"]).to_dict()  # refuses unknown options
    check_state_dict(ckpt["model"], checkpoint_path)
    # plain JSON values only, so that torch.load(weights_only=True) accepts the file
    card = json.loads(json.dumps(_card_from_checkpoint(ckpt, profile, **card_fields), default=str))
    state = {k: v.detach().float().cpu().contiguous() for k, v in ckpt["model"].items()}
    path = check_export(name, weights_dir, overwrite)
    text = _card_text(path, card, config)
    # Both files are complete on disk before either replaces its namesake: an error or a kill
    # while rendering or writing leaves the old pair (or none); only the instant between the two
    # renames could part them.
    with atomic_path(path) as tmp_weights, atomic_path(path.with_suffix(".md")) as tmp_card:
        torch.save({"state_dict": state, "config": config, "card": card}, tmp_weights)
        tmp_card.write_text(text)
    return path


def write_card(name_or_path: str | Path, weights_dir: Path = WEIGHTS_DIR) -> Path:
    """Render again the model card `<name>.md` beside a weights file from the card and config it
    holds (after a change to how cards read), atomically; the weights file is only read.
    Returns the card's path."""
    path = weights_path(name_or_path, weights_dir)
    blob = read_weights(path)
    text = _card_text(path, blob["card"], blob["config"])
    return write_atomic(path.with_suffix(".md"), lambda tmp: tmp.write_text(text))


def _card_text(path: Path, card: dict, config: dict) -> str:
    """The model card of the weights file `path`: its "Use" section loads them by name when they
    are shipped (a name finds shipped weights only), else by the file's path."""
    shipped = path.parent.resolve() == WEIGHTS_DIR.resolve()
    return model_card(path.stem, card, config, ref=path.stem if shipped else str(path))


def noise_words(params: dict) -> str:
    """A card's noise parameters as a user reads them: a sigma in grey levels of 255 with the
    0-1 value the code holds ('sigma 25/255 (0.098 in 0-1 units)', 'max_sigma 50/255 (0.196 in
    0-1 units)'), the others as the noise model takes them ('lam 30', 'p 0.1'); '' for none
    (the course's noise, of unknown law)."""
    def words(key: str, value: Any) -> str:
        if not isinstance(value, (int, float)) or isinstance(value, bool):
            return f"{key} {value}"
        said = params_words({key: value})
        return f"{said} ({value:.3g} in 0-1 units)" if "sigma" in key else said

    return ", ".join(words(k, v) for k, v in params.items())


def _known(value: Any) -> bool:
    """Whether a card's value says something: None (not recorded, or not applicable, as the
    seed of the course's fixed files) and an empty mapping or list (no noise parameters) do not."""
    return value is not None and not (isinstance(value, (dict, list, tuple, str)) and not value)


def _fmt(value: Any, key: str = "") -> str:
    """A card's known value (see _known) for its tables; `key` names it (a noise's parameters
    are said in words). A mapping shows its known items only."""
    if key == "noise_params" and isinstance(value, dict):
        return noise_words(value)
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, dict):
        return ", ".join(f"{k}={_fmt(v, k)}" for k, v in value.items() if _known(v))
    return str(value)


def _psnr_words(card: dict) -> str:
    """The card's validation PSNR sentence; what was not recorded is said so, never as a number."""
    psnr, noisy = card.get("val_psnr"), card.get("val_psnr_noisy")
    if psnr is None:
        return "Validation PSNR: not recorded"
    if noisy is None:
        return f"Validation PSNR: {_fmt(psnr)} dB (noisy input: not recorded)"
    return (f"Validation PSNR: {_fmt(psnr)} dB (noisy input: {_fmt(noisy)} dB) "
            f"{psnr - noisy:+.2f} dB over the noisy input")


def card_line(name: str, card: dict) -> str:
    """The one line `n2n list-weights` gives weights `name`: profile, epochs, validation PSNR of
    the output and of the noisy input (dB), noise and its levels, from their card. As in
    model_card, what the card does not know is left out, never shown as '-' or None (nor a
    score that is no number: NaN, which export-weights --val-psnr-noisy once took)."""
    params = card.get("noise_params") if isinstance(card.get("noise_params"), dict) else {}
    levels = params_words({k: v for k, v in params.items() if isinstance(v, (int, float))})
    score = lambda v: isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)
    db = lambda v: f"{v:.2f} dB" if score(v) else None
    fields = {"profile": card.get("profile"), "epochs": card.get("epochs"), "val_psnr": db(card.get("val_psnr")),
              "noisy": db(card.get("val_psnr_noisy")),
              "noise": f"{card['noise']}{f'({levels})' if levels else ''}" if _known(card.get("noise")) else None}
    return "  ".join([name, *(f"{k}={v}" for k, v in fields.items() if _known(v))])


def model_card(name: str, card: dict, config: dict, ref: str | None = None) -> str:
    """The human model card (Markdown) of a weights file; `ref` is what its "Use" section loads
    (default `name`, which finds shipped weights; the file's path for weights kept elsewhere)."""
    ref = ref or name
    pairs = f" ({_fmt(card['n_train'])} pairs)" if _known(card.get("n_train")) else ""
    lines = [
        f"# {name}", "",
        f"Table I ResUNet ({config['model']}, final activation {config['final_activation']}) "
        f"trained with {config['target']} on `{card['data']}`, {card['noise']} noise"
        f"{': ' + noise_words(card['noise_params']) if _known(card['noise_params']) else ''}. "
        f"Profile: **{card['profile']}**.",
        "",
    ]
    if card.get("notes"):
        lines += [str(card["notes"]), ""]
    lines += ["| field | value |", "| --- | --- |"]
    # what the card does not know is left out of its table (the PSNR sentence says so)
    shown = {k: _fmt(v, k) for k, v in card.items() if k not in ("history", "notes") and _known(v)}
    lines += [f"| {k} | {v} |" for k, v in shown.items() if v]
    lines += ["", _psnr_words(card), ""]
    if card.get("history"):
        keys = list(card["history"][0])
        lines += ["## Per epoch", "", "| " + " | ".join(keys) + " |", "|" + " --- |" * len(keys)]
        lines += ["| " + " | ".join(_fmt(row[k]) for k in keys) + " |" for row in card["history"]]
        lines += [""]
    lines += ["## Training configuration", "", "| option | value |", "| --- | --- |"]
    lines += [f"| {k} | {_fmt(v) if v is not None else 'none'} |" for k, v in config.items()]  # init: none
    lines += ["", "## Use", "", "```python", "import numpy as np", "from PIL import Image", "",
              "from n2n_utils.inference import denoise_array", "from n2n_utils.weights import load_weights",
              "", f"model = load_weights({json.dumps(ref)})",  # a path's backslashes and quotes escaped
              'image = np.asarray(Image.open("photo.png"))  # uint8 or uint16, H x W or H x W x C',
              "denoised = denoise_array(model, image)  # the same shape and dtype", "```", "",
              f"or `python -m n2n_utils denoise photo.png --weights {ref}`.", "",
              "## Limits", "",
              f"Trained on `{card['data']}`{pairs} for the noise named "
              "above only: other noise laws or levels are outside what it has seen. It keeps the "
              "noisy target's clipping bias near black and white (see n2n_utils/noise.py).", ""]
    return "\n".join(lines)
