import pytest
import torch

from n2n_utils.augment import AUGMENTATIONS, augment, dihedral_transform, ensemble_for, members, valid_augmentations
from n2n_utils.noise import get_noise


def _pair(n=64):
    x = torch.rand(n, 3, 8, 8)
    return x, x.clone() * 0.5  # y is a known function of x


@pytest.mark.parametrize("name", sorted(AUGMENTATIONS))
def test_same_transform_on_input_and_target(name):
    x, y = _pair()
    ax, ay = augment([name], x, y, torch.Generator().manual_seed(0))
    if name != "inversion":
        torch.testing.assert_close(ay, ax * 0.5)
    else:  # y = x/2 becomes 1 - x/2 exactly where x becomes 1 - x
        flipped = (ax - x).abs().flatten(1).sum(1) > 0
        torch.testing.assert_close(ay[flipped], 1 - (1 - ax[flipped]) * 0.5)
        torch.testing.assert_close(ay[~flipped], ax[~flipped] * 0.5)


def test_all_dihedral_members_reachable():
    x = torch.arange(16.0).reshape(1, 1, 4, 4).repeat(200, 1, 1, 1)
    ax, _ = augment(["dihedral"], x, x.clone(), torch.Generator().manual_seed(0))
    members = [dihedral_transform(x[:1], k) for k in range(8)]
    assert len({tuple(m.flatten().tolist()) for m in members}) == 8  # 8 distinct elements
    seen = {k for k in range(8) for i in range(200) if torch.equal(ax[i:i + 1], members[k])}
    assert seen == set(range(8))


def test_all_channel_permutations_reachable():
    x = torch.arange(3.0).reshape(1, 3, 1, 1).repeat(300, 1, 2, 2)
    ax, _ = augment(["channel_permutation"], x, x.clone(), torch.Generator().manual_seed(0))
    assert len({tuple(ax[i, :, 0, 0].tolist()) for i in range(300)}) == 6


def test_inversion_keeps_gaussian_noise_statistics_at_clipped_ends():
    # clean images at the dark end, where clipping at 0 shapes the noise
    clean = torch.full((400, 3, 16, 16), 10, dtype=torch.uint8)
    noise = get_noise("gaussian")
    noisy = noise(clean, torch.Generator().manual_seed(0))
    # inverting the noisy image must look like noising the inverted clean image
    inverted_noisy = 255 - noisy.float()
    noisy_of_inverted = noise(255 - clean, torch.Generator().manual_seed(1)).float()
    for stat in (torch.mean, torch.std):
        assert abs(stat(inverted_noisy) - stat(noisy_of_inverted)) < 0.3
    assert abs((inverted_noisy == 255).float().mean() - (noisy_of_inverted == 255).float().mean()) < 0.01


def test_valid_augmentations_per_noise():
    assert "inversion" not in valid_augmentations("poisson")
    assert set(valid_augmentations("gaussian")) == set(AUGMENTATIONS)
    with pytest.raises(ValueError, match="unknown augmentation"):
        augment(["mixup"], *_pair(), torch.Generator())


@pytest.mark.parametrize("name,count", [("dihedral", 8), ("channel_permutation", 6), ("inversion", 2)])
def test_ensemble_members_undo_and_are_distinct(name, count):
    x = torch.rand(2, 3, 8, 8)
    transforms = members(name)
    assert len(transforms) == count
    outputs = [apply(x) for apply, _ in transforms]
    for (_, undo), y in zip(transforms, outputs, strict=True):
        torch.testing.assert_close(undo(y), x)
    assert len({tuple(y.flatten().tolist()) for y in outputs}) == count  # every member is reached


def test_ensemble_for_keeps_the_noise_law():
    assert ensemble_for("gaussian") == ("dihedral", "inversion")
    assert ensemble_for("poisson") == ("dihedral",)  # inversion changes poisson's law
