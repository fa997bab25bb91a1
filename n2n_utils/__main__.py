"""The command line: `python -m n2n_utils COMMAND` (or `n2n COMMAND` once installed).

    denoise FILE... [-o OUT] [--weights NAME_OR_PATH] [--sigma 25|auto] [--device auto] [--tile 256]
                    [--overlap 32] [--overwrite] [--quiet] [--precision auto] [--ensemble]
    list-weights [--weights-dir DIR]
    export-weights CHECKPOINT --profile PROFILE [--name NAME] [--trained-on DEVICE]
                   [--val-psnr-noisy DB] [--notes TEXT] [--weights-dir DIR] [--overwrite]
    export-course OUT_DIR [--weights NAME_OR_PATH] [--overwrite]
    train --checkpoint PATH [--dataset natural32|FOLDER] [--noise gaussian] [--n-train N]
          [--epochs E --lr LR --batch-size B --augment A ... --precision P ...] [--init NAME_OR_PATH]
          [--export NAME --profile PROFILE [--overwrite]]

A bad option (one argparse refuses, or a value out of range: `--epochs 0`, `--crop 48`,
`--tile 48`, a device not here ...) prints the usage and one line naming the option as typed,
`n2n train: error: --crop 48: ...`, and exits with status 2, before any file is read: argparse
refuses the form, and the rules on values (written once, where the values are used) raise
config.OptionError, which `main` shows as the option. A mistake in the files or data (a missing
file, not an image, an output that would replace the input or another input, unusable weights
...) prints one line `n2n: error: ...` on stderr and exits with status 1, without a traceback;
other files of the same call are still processed. Every denoise job is planned and checked
before the network loads and before anything is written. A Ctrl-C exits with 130 and one line
saying what it left. README.md, section Reliability, lists what each kind of bad input gets.

The argument types are n2n_utils.options; where denoise's outputs go and which of its jobs can
run, n2n_utils.jobs; this module parses, checks what depends on several options, and runs.
"""

from __future__ import annotations

import argparse
import contextlib
import sys
import warnings
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch

from .augment import ensemble_for, valid_augmentations
from .config import WEIGHTS_DIR, OptionError, SlowPrecisionWarning, resolve_device, slow_precision_message
from .course import export_course
from .files import check_writable
from .images import ImageError, read_image
from .inference import GREY_PLAIN, OVERLAP, TILE, Shifts, check_tiling, denoise_file, grey_shifts
from .jobs import SUFFIX, output_paths, plan_jobs
from .noise import NOISE_MODELS, SUITED_LOSS, noise_params
from .options import db_option, noise_param_option, path_option, path_text_option, sigma_option
from .runs import load_training_checkpoint
from .weights import (
    DEFAULT_WEIGHTS,
    build_network,
    card_line,
    check_export,
    check_name,
    export_weights,
    list_weights,
    read_weights,
    weights_path,
)

if TYPE_CHECKING:
    from .training import TrainConfig

def _error(message: object) -> None:
    lines = str(message).strip().splitlines() or [type(message).__name__]
    print(f"n2n: error: {lines[0]}", file=sys.stderr)


def _device(name: str) -> torch.device:
    """--device's torch device: one this tool runs on and this machine has (OptionError)."""
    try:
        device = resolve_device(name)
    except RuntimeError:  # torch's message lists every device type it knows, most of them not ours
        raise OptionError("device", name, "unknown device; choose auto, cpu, cuda, cuda:N or mps") from None
    if device.type not in ("cpu", "cuda", "mps"):  # torch names more (meta, xpu ...), which fail later
        raise OptionError("device", name, "not one this tool runs on; choose auto, cpu, cuda, cuda:N or mps")
    if device.type == "cuda" and not torch.cuda.is_available():
        raise OptionError("device", name, "CUDA is not available here")
    if device.type == "cuda" and (device.index or 0) >= torch.cuda.device_count():
        raise OptionError("device", name, f"this machine has {torch.cuda.device_count()} GPU(s)")
    if device.type == "mps" and not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()):
        raise OptionError("device", name, "MPS is not available here")
    return device


@contextlib.contextmanager
def _precision_warned(precision: str, device: torch.device):
    """Say on one line what an emulated precision costs, before the slow work starts, and keep
    the engine's SlowPrecisionWarning from saying it again inside the block."""
    if message := slow_precision_message(precision, device):
        print(f"n2n: warning: {message}", file=sys.stderr)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SlowPrecisionWarning)
        yield


def _candidate_weights(args: argparse.Namespace) -> list[str]:
    """The weights this call's jobs may use, loaded before any image is decoded: --weights when
    given; else, with --sigma, those it picks (for auto, any of blind.SIGMA_WEIGHTS: the level
    is known only once each image is decoded); else the default weights."""
    if args.weights is not None:  # --weights "" is a name to refuse, not the default
        return [args.weights]
    if args.sigma is None:
        return [DEFAULT_WEIGHTS]
    from .blind import SIGMA_WEIGHTS, weights_for_sigma  # loads data

    return list(SIGMA_WEIGHTS) if args.sigma == "auto" else [weights_for_sigma(args.sigma / 255)]


def _estimate_side(args: argparse.Namespace) -> int:
    """The fewest pixels on each side an input needs: blind.ESTIMATE_MIN_SIDE with --sigma auto, else 0."""
    if args.sigma != "auto":
        return 0
    from .blind import ESTIMATE_MIN_SIDE  # loads data

    return ESTIMATE_MIN_SIDE


def _weights_for(src: Path, image: np.ndarray, args: argparse.Namespace) -> tuple[str, float | None]:
    """The weights for one input, `image` its decoded pixels (uint8 or uint16, H x W (x C)), and
    its noise level (0-1 units; None without --sigma): --weights when given; else, with --sigma,
    the shipped weights for that level (estimated from `image` for auto, and printed); else the
    default weights. One of _candidate_weights(args)."""
    if args.sigma is None:
        return _candidate_weights(args)[0], None
    from .blind import BLIND_MAX_SIGMA_255, estimate_sigma, weights_for_sigma  # loads data

    sigma = estimate_sigma(image) if args.sigma == "auto" else args.sigma / 255  # plan_jobs checked the size
    chosen = args.weights if args.weights is not None else weights_for_sigma(sigma)
    beyond = f" (beyond the {BLIND_MAX_SIGMA_255:g}/255 any weights saw)" if sigma * 255 > BLIND_MAX_SIGMA_255 else ""
    print(f"{src}: noise sigma {'estimated at ' if args.sigma == 'auto' else ''}{sigma * 255:.1f}/255{beyond}; "
          f"weights {chosen}")
    return chosen, sigma


def _grey_feed(image: np.ndarray, card: dict, sigma: float | None) -> Shifts:
    """How a grey `image` (uint8 or uint16, H x W or H x W x C, decoded once by the caller)
    goes through weights that learned colour noise (inference.grey_shifts): from the weights'
    noise and the image's level, which, without --sigma, is estimated here for weights trained
    at one sigma (the feed changes at 0.82 of that sigma). Colour: unused."""
    if image.ndim == 3 and image.shape[2] not in (1, 2):  # grey or grey + alpha only
        return GREY_PLAIN
    noise, params = card.get("noise", "unknown"), card.get("noise_params") or {}
    if sigma is None and noise == "gaussian":
        from .blind import ESTIMATE_MIN_SIDE, estimate_sigma  # loads data

        sigma = estimate_sigma(image) if min(image.shape[:2]) >= ESTIMATE_MIN_SIDE else None
    return grey_shifts(noise, params, sigma)


def cmd_denoise(args: argparse.Namespace) -> int:
    check_tiling(args.tile, args.overlap)  # the options first: OptionError, status 2
    device = _device(args.device)
    inputs = [Path(p) for p in args.inputs]
    try:
        pairs = list(zip(inputs, output_paths(inputs, args.output), strict=True))
    except ValueError as err:  # -o's, which names it as typed
        args.parser.error(str(err))
    try:
        if args.weights is not None:
            weights_path(args.weights)  # before any image is read or a line printed about it
    except (OSError, ValueError) as err:
        _error(err)
        return 1
    jobs, errors = plan_jobs(pairs, args.overwrite, _estimate_side(args))
    for message in errors:
        _error(message)
    failed = len(errors)
    if not jobs:
        return 1
    try:  # all the weights the jobs may use, before any image is decoded or written
        weights = {name: read_weights(name) for name in _candidate_weights(args)}  # each file read once
        models = {name: build_network(w, weights_path(name), device) for name, w in weights.items()}
        cards = {name: w["card"] for name, w in weights.items()}
        ensembles = {name: ensemble_for(cards[name].get("noise", "unknown")) if args.ensemble else ()
                     for name in models}
    except (OSError, ValueError, RuntimeError) as err:  # RuntimeError: parameters that do not fit
        _error(err)
        return 1
    with _precision_warned(args.precision, device):
        for src, dst in jobs:
            try:
                decoded = read_image(src)  # once: the noise level's estimates and the network read one array
                name, sigma = _weights_for(src, decoded[0], args)
                grey = _grey_feed(decoded[0], cards[name], sigma)
                denoise_file(src, dst, models[name], args.overwrite, args.tile, args.overlap,
                             progress=not args.quiet, precision=args.precision, ensemble=ensembles[name],
                             grey=grey, decoded=decoded)
            except (ImageError, OSError) as err:
                _error(err)
                failed += 1
                continue
            print(f"{src} -> {dst}")
    return 1 if failed else 0


def cmd_list_weights(args: argparse.Namespace) -> int:
    """One line per weights file in --weights-dir; a file that is not weights is named on stderr
    (exit 1), and the others are still listed."""
    folder = args.weights_dir
    if not folder.is_dir():
        _error(f"{folder}: {'not a folder' if folder.exists() else 'folder not found'} (--weights-dir)")
        return 1
    failed, names = 0, list_weights(folder)
    if not names:  # say so, rather than print nothing (stderr: stdout stays one line a weights file)
        print(f"n2n: {folder}: no weights files in this folder", file=sys.stderr)
    for name in names:
        try:
            card = read_weights(weights_path(name, folder))["card"]
        except (OSError, ValueError) as err:
            _error(err)
            failed += 1
            continue
        print(card_line(name, card))
    return 1 if failed else 0


def cmd_export_weights(args: argparse.Namespace) -> int:
    fields = {"device": args.trained_on, "val_psnr_noisy": args.val_psnr_noisy, "notes": args.notes}
    check_name(args.name)  # OptionError, status 2; weights of that name that exist are a file's error
    try:
        path = export_weights(args.checkpoint, args.name, profile=args.profile, weights_dir=args.weights_dir,
                              overwrite=args.overwrite, **{k: v for k, v in fields.items() if v is not None})
    except (OSError, ValueError) as err:
        _error(err)
        return 1
    print(f"wrote {path} and {path.with_suffix('.md')}")
    return 0


def cmd_export_course(args: argparse.Namespace) -> int:
    try:
        folder = export_course(args.out_dir, args.weights, args.overwrite)
    except (OSError, ValueError) as err:
        _error(err)
        return 1
    print(f"wrote {folder}/ (__init__.py, model.py, bestmodel.pth)")
    return 0


def cmd_train(args: argparse.Namespace) -> int:
    """Train a ResUNet (resuming from --checkpoint when it exists), then optionally export it."""
    from .training import TrainConfig, build_model

    options = {k: getattr(args, k) for k in ("epochs", "lr", "batch_size", "loss", "target",
                                              "lr_schedule", "precision", "seed", "init", "device")
               if getattr(args, k) is not None}  # no --loss: the noise's, once the data are known
    if args.augment is not None:
        options["augment"] = tuple(a for a in args.augment if a != "none")
    _check_train_options(args)  # the options first: OptionError, status 2
    config = TrainConfig.from_dict(options)  # ... their values too, before data are made
    device = _device(config.device)
    try:
        check_writable(args.checkpoint)  # before data are made and epochs trained
        resumed = None  # the checkpoint to resume from, which must be a training checkpoint
        if args.checkpoint.exists():
            resumed = load_training_checkpoint(args.checkpoint)
        if args.export is not None:  # ... and where --export will write, so a finished run is not refused at the end
            if check_export(args.export, args.weights_dir, args.overwrite).resolve() == args.checkpoint.resolve():
                raise ValueError(f"{args.checkpoint}: --export {args.export} would write its weights over this "
                                 "checkpoint; give another name or --weights-dir")
        if config.init is not None and not args.checkpoint.exists():  # a resume starts from the checkpoint
            build_model(config)  # ... and so are the weights it starts from: there, readable, this network's
    except (OSError, ValueError) as err:
        _error(err)
        return 1
    with _precision_warned(config.precision, device):
        return _train_and_export(args, config, resumed)


def _check_train_options(args: argparse.Namespace) -> None:
    """train's options that argparse's types cannot judge alone, before anything is read or
    made: OptionError (or the parser's error) naming the option, status 2."""
    from .data import check_source_options

    for name in ("epochs", "n_train", "n_val"):
        if getattr(args, name) < 1:
            raise OptionError(name, getattr(args, name), "needs at least 1")
    export_only = [flag for flag, given in (("--overwrite", args.overwrite),
                                            ("--profile", args.profile != "custom"),
                                            ("--weights-dir", args.weights_dir != WEIGHTS_DIR)) if given]
    if args.export is None and export_only:  # they say how to export: without --export they would do nothing
        args.parser.error(f"{' and '.join(export_only)} without --export NAME would do nothing: "
                          f"add --export NAME or leave out {' and '.join(export_only)}")
    if args.export is not None:
        try:
            check_name(args.export)
        except OptionError as err:
            raise OptionError("export", err.value, err.problem) from None
    noise = args.noise or "gaussian"
    try:
        noise_params(noise)
    except ValueError as err:
        raise OptionError("noise", noise, str(err)) from None
    for name, value in args.noise_param or ():  # each on its own, to name the one refused
        try:
            noise_params(noise, **{name: value})
        except ValueError as err:
            raise OptionError("noise_param", name, str(err)) from None
    check_source_options(args.dataset, args.crop, args.mix_deadleaves)


def _train_and_export(args: argparse.Namespace, config: TrainConfig, resumed: dict | None = None) -> int:
    """Make the data, train (resuming from `resumed`, the checkpoint's contents, if given),
    report the validation PSNR, export if asked."""
    from .data import is_course_folder, load_dataset
    from .metrics import psnr, to_float
    from .training import check_resume, train

    try:
        if args.noise is not None and is_course_folder(args.dataset):  # was: trained on theirs, without a word
            raise ValueError(f"--noise {args.noise}: {args.dataset} holds the course's files: their data carries its "
                             f"own noise, which training does not replace; leave --noise out")
        data = load_dataset(args.dataset, noise=args.noise or "gaussian", n_train=args.n_train, n_val=args.n_val,
                            seed=args.seed, mix_deadleaves=args.mix_deadleaves, crop=args.crop,
                            **dict(args.noise_param or ()))
        if args.augment is None:  # the study's recipe: every augmentation that keeps the noise law
            config = replace(config, augment=valid_augmentations(data.meta["noise"]))  # course: dihedral
        if args.loss is None:  # ... and the loss suited to it
            config = replace(config, loss=SUITED_LOSS.get(data.meta["noise"], "mse"))
        if resumed is not None:  # before it is said to resume (was: said, then refused for other data)
            check_resume(resumed, args.checkpoint, data, config)
    except (OSError, ValueError) as err:
        _error(err)
        return 1
    if resumed is not None:  # the bar starts where the checkpoint left off: say why
        done = resumed["epoch"]
        print(f"{args.checkpoint}: resuming after epoch {done} of {config.epochs}" if done < config.epochs
              else f"{args.checkpoint}: holds all {done} epochs; nothing left to train")
    try:
        result = train(data, config, checkpoint=args.checkpoint, resume=True)
        noisy = psnr(to_float(data.val_input), to_float(data.val_clean))
        print(f"validation PSNR {result.final_psnr:.2f} dB (noisy input {noisy:.2f} dB); "
              f"checkpoint {args.checkpoint}")
        if args.export is not None:
            # the card's device and commit are the checkpoint's: those that trained it (a resume with
            # no epoch left trains nothing here)
            path = export_weights(args.checkpoint, args.export, profile=args.profile, val_psnr_noisy=noisy,
                                  weights_dir=args.weights_dir, overwrite=args.overwrite)
            print(f"wrote {path} and {path.with_suffix('.md')}")
    except (OSError, ValueError, FloatingPointError) as err:
        _error(err)
        return 1
    return 0


def build_parser() -> argparse.ArgumentParser:
    from . import __version__

    parser = argparse.ArgumentParser(prog="n2n", description="Noise2Noise denoising with the Table I ResUNet.")
    parser.add_argument("--version", action="version", version=f"n2n {__version__} (n2n-study)")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = commands.add_parser("denoise", help="denoise image files (PNG, TIFF, JPEG ...) of any size",
                            description="Denoise image files of any size, tile by tile. Reads 8-bit grey, "
                            "grey + alpha, RGB and RGBA, 16-bit grey, and 16-bit RGB(A) TIFF; alpha is kept. "
                            "Writes the format the output's extension names (.png, .tif, .jpg, .webp, .bmp).")
    p.add_argument("inputs", nargs="+", metavar="FILE", type=path_text_option,
                   help="image files (a folder's: DIR/*.png, say)")
    p.add_argument("-o", "--output", type=path_text_option,
                   help=f"output file, or folder (one that exists, a name ending in /, or any -o "
                   f"for several inputs) that keeps the input names (default: "
                   f"NAME{SUFFIX}.EXT beside each input)")
    p.add_argument("--weights", help=f"shipped name or file (default {DEFAULT_WEIGHTS}, or the weights --sigma "
                   f"picks; see list-weights)")
    p.add_argument("--sigma", type=sigma_option, help="the gaussian noise's level in 1/255 (e.g. 25), or auto to "
                   "estimate it from each image (printed): picks the shipped weights for it, the sigma-25 ones near "
                   "25 and the blind ones (resunet-natural32-gaussian-blind) elsewhere, unless --weights names others")
    p.add_argument("--device", default="auto", help="auto (cuda > mps > cpu), cpu, cuda, cuda:1 ...")
    p.add_argument("--tile", type=int, default=TILE, help=f"tile side in pixels, a multiple of 32 (default {TILE})")
    p.add_argument("--overlap", type=int, default=OVERLAP, help=f"tile overlap, a multiple of 32 (default {OVERLAP})")
    p.add_argument("--overwrite", action="store_true", help="replace existing outputs, the input included")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.add_argument("--precision", default="auto", choices=("auto", "fp32", "bf16"),
                   help="auto: bf16 where the device computes it natively (faster), else fp32")
    p.add_argument("--ensemble", action="store_true",
                   help="average over rotations, mirror images (and inversion, where the weights' noise "
                   "allows it): better on unseen photos (report, section 8), up to 16x slower")
    p.set_defaults(func=cmd_denoise, parser=p)

    p = commands.add_parser("list-weights", help="the shipped weights, their validation PSNR and noise")
    p.add_argument("--weights-dir", type=path_option, default=WEIGHTS_DIR,
                   help=f"the folder to list, e.g. train --export's (default {WEIGHTS_DIR})")
    p.set_defaults(func=cmd_list_weights, parser=p)

    p = commands.add_parser("export-weights", help="turn a training checkpoint into shipped weights + model card")
    p.add_argument("checkpoint", type=path_text_option, help="a checkpoint that train wrote (--checkpoint)")
    p.add_argument("--profile", required=True, help="what run made it: smoke, quick, full, provisional ...")
    p.add_argument("--name", default=DEFAULT_WEIGHTS, help=f"the weights' name (default {DEFAULT_WEIGHTS}, "
                   f"the shipped default's: --overwrite to replace it)")
    p.add_argument("--trained-on", help="device description for the card, e.g. 'cuda (NVIDIA H100)'")
    p.add_argument("--val-psnr-noisy", type=db_option, help="PSNR (dB) of the noisy validation input")
    p.add_argument("--notes", help="a sentence for the model card")
    p.add_argument("--weights-dir", type=path_option, default=WEIGHTS_DIR,
                   help=f"where to write (default {WEIGHTS_DIR})")
    p.add_argument("--overwrite", action="store_true", help="replace weights of the same name (refused otherwise)")
    p.set_defaults(func=cmd_export_weights, parser=p)

    p = commands.add_parser("export-course", help="write OUT_DIR/Miniproject_1/ for the EE-559 grader")
    p.add_argument("out_dir", metavar="OUT_DIR", type=path_text_option,
                   help="the submission's folder (made if missing), which gets Miniproject_1/")
    p.add_argument("--weights", default=DEFAULT_WEIGHTS, help=f"shipped name, weights file or training "
                   f"checkpoint for bestmodel.pth (default {DEFAULT_WEIGHTS})")
    p.add_argument("--overwrite", action="store_true", help="replace an OUT_DIR/Miniproject_1/ that is not empty")
    p.set_defaults(func=cmd_export_course, parser=p)

    from .runs import CHOICES, TrainConfig

    d = TrainConfig()
    p = commands.add_parser("train", help="train a ResUNet (resumable), optionally export it as shipped weights")
    p.add_argument("--checkpoint", required=True, type=path_option, help="written after each epoch; resumed from")
    p.add_argument("--dataset", default="natural32", type=path_text_option,
                   help="natural32, deadleaves32, a folder of the course's files "
                   "(train_data.pkl, val_data.pkl) or a folder of your own images")
    p.add_argument("--noise", help=f"the noise added to the clean crops, at its default level "
                   f"(gaussian: sigma 25/255): one of {', '.join(sorted(NOISE_MODELS))} (default gaussian; "
                   f"the course's files carry their own)")
    p.add_argument("--noise-param", action="append", type=noise_param_option, metavar="NAME=VALUE",
                   help="a level of --noise other than its default, e.g. sigma=15 (sigmas in grey levels of "
                   "255, as denoise's --sigma), max_sigma=50 for gaussian_blind, lam=10 for poisson, p=0.1 "
                   "for impulse; repeat for more")
    p.add_argument("--n-train", type=int, default=50_000, help="training pairs (default 50000)")
    p.add_argument("--n-val", type=int, default=1_000, help="validation crops (default 1000)")
    p.add_argument("--mix-deadleaves", type=float, default=0.0, help="fraction of training pairs from dead leaves")
    p.add_argument("--crop", type=int, default=32, help="natural32's crop side in pixels: 32 (default), 64, 96 or "
                   "128; larger crops teach the network to use more context (the blind weights trained on 64)")
    p.add_argument("--epochs", type=int, default=d.epochs, help=f"(default {d.epochs})")
    p.add_argument("--lr", type=float, default=d.lr, help=f"Adam's learning rate (default {d.lr:g})")
    p.add_argument("--batch-size", type=int, default=d.batch_size, help=f"(default {d.batch_size})")
    p.add_argument("--loss", choices=CHOICES["loss"], help="default: the one suited to the noise (mse; l1 for "
                   "impulse and text; log_mse for gaussian_blind)")
    p.add_argument("--target", default=d.target, choices=CHOICES["target"],
                   help=f"what the network learns to output: the second noisy image, or the clean one "
                   f"(needs clean images: not the course's files) (default {d.target})")
    p.add_argument("--augment", nargs="*", help="augmentations by name, or none (default: all that keep "
                   "the noise law, e.g. dihedral channel_permutation inversion for gaussian)")
    p.add_argument("--lr-schedule", default=d.lr_schedule, choices=CHOICES["lr_schedule"],
                   help=f"cosine: --lr falls step by step to zero at the last epoch's end (default {d.lr_schedule})")
    p.add_argument("--precision", default=d.precision, choices=CHOICES["precision"],
                   help="auto: bf16 where the device computes it natively (faster), else fp32")
    p.add_argument("--seed", type=int, default=d.seed, help="data, initialisation and order (default 0)")
    p.add_argument("--init", metavar="NAME_OR_PATH", type=path_text_option,
                   help="start from these weights (a shipped name, a weights "
                   "file or a checkpoint) instead of random ones: to fine-tune them on your own data, or to train "
                   "them further in a new run (the card's init records them)")
    p.add_argument("--device", default=d.device, help="auto (cuda > mps > cpu), cpu, cuda, cuda:1 ...")
    p.add_argument("--export", metavar="NAME", help="export the result as shipped weights under this name")
    p.add_argument("--profile", default="custom", help="the label the model card gives the run")
    p.add_argument("--weights-dir", type=path_option, default=WEIGHTS_DIR,
                   help=f"where --export writes (default {WEIGHTS_DIR})")
    p.add_argument("--overwrite", action="store_true", help="let --export replace weights of the same name")
    p.set_defaults(func=cmd_train, parser=p)
    return parser


def interrupted(args: argparse.Namespace) -> str:
    """The line a Ctrl-C gets, instead of a traceback: what it left (writes are atomic) and how
    to go on."""
    if args.command == "train":
        if args.checkpoint.exists():
            return (f"interrupted; {args.checkpoint} holds the last finished epoch: the same command "
                    f"resumes from it")
        return f"interrupted before the first epoch ended: nothing written to {args.checkpoint}"
    if args.command == "denoise":
        return "interrupted; the files listed as written are whole, the one in progress was not written"
    return "interrupted; nothing was left half written"


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except OptionError as err:  # a bad option's value, found before any work
        args.parser.error(err.as_option())  # the usage and one line, status 2, as argparse's own
    except KeyboardInterrupt:
        print(f"\nn2n: {interrupted(args)}", file=sys.stderr)  # after a progress bar's line
        return 130  # the shell's status for a Ctrl-C


if __name__ == "__main__":
    sys.exit(main())
