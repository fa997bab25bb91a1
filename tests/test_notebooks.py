"""n2n_utils.notebooks beyond the sweeps (tests/test_sweeps.py): what notebook 04 loads."""

import pytest

from n2n_utils.data import load_dataset
from n2n_utils.files import provenance, write_json
from n2n_utils.notebooks import TRAINED, trained_checkpoint
from n2n_utils.profiles import get_profile, output_dirs
from n2n_utils.records import ResultsFileError


def test_notebook_04_takes_the_checkpoint_01_trained_on_its_own_data_only(tmp_path):
    prof, dirs = get_profile("smoke"), output_dirs("smoke", tmp_path)
    gaussian = load_dataset("natural32", noise="gaussian", n_train=8, n_val=4, seed=0)
    with pytest.raises(FileNotFoundError, match="run notebooks/01_train_resunet.ipynb with profile 'smoke' first"):
        trained_checkpoint(prof, dirs, gaussian)
    write_json(dirs.results / TRAINED, provenance(data=gaussian.meta, checkpoint="resunet-abc.pt"))
    assert trained_checkpoint(prof, dirs, gaussian) == dirs.runs / "resunet-abc.pt"
    # was: 01 run with -p noise poisson, then 04 with the default noise, showed the poisson
    # network on gaussian crops as if it were theirs
    poisson = load_dataset("natural32", noise="poisson", n_train=8, n_val=4, seed=0)
    with pytest.raises(ValueError, match=r"notebook 01 trained on other data \(.*noise 'gaussian' there, "
                                         r"'poisson' here"):
        trained_checkpoint(prof, dirs, poisson)
    # a damaged record, or one without the checkpoint: one line naming it (was: json's traceback, KeyError)
    (dirs.results / TRAINED).write_text('{"data": ')
    with pytest.raises(ResultsFileError, match=f"{dirs.results / TRAINED}: damaged, not JSON .*rerun notebooks/01"):
        trained_checkpoint(prof, dirs, gaussian)
    write_json(dirs.results / TRAINED, provenance(data=gaussian.meta))
    with pytest.raises(ResultsFileError, match=f"{dirs.results / TRAINED}: no 'checkpoint'"):
        trained_checkpoint(prof, dirs, gaussian)
