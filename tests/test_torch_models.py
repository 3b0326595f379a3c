"""Study B models: EdgeNet shapes, the four backbones through timm, freezing, weight errors."""

import pytest
import torch

from fashionlib import torch_models as tm


pytestmark = pytest.mark.usefixtures("one_torch_thread")



@pytest.mark.parametrize("size", [16, 32, 37])
def test_edgenet_keeps_size_and_expands_channels(size):
    en = tm.EdgeNet(3, 3)
    x = torch.randn(2, 3, size, size)
    assert en(x).shape == (2, 3, size, size)
    assert en.edge_map(x).shape == (2, 1, size, size)
    en1 = tm.EdgeNet(1, 3, residual=False)
    out = en1(torch.randn(2, 1, size, size))
    assert out.shape == (2, 3, size, size)
    assert torch.equal(out[:, 0], out[:, 1]) and torch.equal(out[:, 1], out[:, 2])  # expanded copies


def test_edgenet_with_gain_starts_as_sobel_edge_enhancement():
    en = tm.EdgeNet(3, 3, edge_gain=0.1)
    flat = torch.full((1, 3, 12, 12), 0.3)
    assert torch.allclose(en(flat), flat)  # no edges: image passes unchanged (replicate padding)
    assert torch.allclose(en.conv1.weight[0].sum(0), tm.SOBEL_X)
    assert torch.allclose(en.conv1.weight[2].sum(0), tm.SOBEL_Y)
    step = torch.zeros(1, 3, 8, 8)
    step[..., 4:] = 1.0  # a vertical edge between columns 3 and 4
    edge = en.edge_map(step)[0, 0]
    expected = torch.zeros(8, 8)
    expected[:, 3:5] = 0.1 * 4.0  # edge_gain * |Gx| of a unit step
    assert torch.allclose(edge, expected, atol=1e-6)
    assert torch.allclose(en(step), step + expected)


@pytest.mark.parametrize("name", ["beit_micro", "swinv2_micro", "vit_micro"])
def test_edgenet_on_and_off_give_identical_outputs_at_initialisation(name, tmp_path):
    """The fair start: under the same seed and weights, the model with EdgeNet computes exactly the model
    without it (zero output layer; EdgeNet's creation leaves the head's random draw alone)."""
    torch.manual_seed(1)
    weights = tm.save_backbone_weights(tm.create_backbone(name, image_size=16), tmp_path / "w.safetensors",
                                       name=name, recipe={})
    models = {}
    for on in (True, False):
        torch.manual_seed(7)
        models[on] = tm.build_model(name, 10, image_size=16, edgenet=on, weights_file=weights,
                                    trainable_blocks=2).eval()
    x = torch.rand(4, 3, 16, 16) * 4 - 2
    with torch.no_grad():
        assert torch.equal(models[True](x), models[False](x))
    assert models[True].uses_edgenet and not models[False].uses_edgenet
    # ... and EdgeNet can learn: its output layer gets a gradient at once
    models[True].train()
    torch.nn.functional.cross_entropy(models[True](x), torch.tensor([0, 1, 2, 3])).backward()
    assert models[True].edgenet.conv3.weight.grad.abs().sum() > 0


def test_edgenet_residual_needs_equal_channels():
    with pytest.raises(ValueError, match="residual"):
        tm.EdgeNet(1, 3, residual=True)


@pytest.mark.slow
@pytest.mark.parametrize("name", tm.PAPER_BACKBONES)
def test_paper_backbone_builds_and_trains_one_step(name):
    torch.manual_seed(0)
    model = tm.build_model(name, 5, image_size=32, trainable_blocks=1)
    assert model.uses_edgenet
    opt = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=1e-3)
    before = model.head.weight.detach().clone()
    loss = torch.nn.functional.cross_entropy(model(torch.randn(2, 3, 32, 32)), torch.tensor([0, 4]))
    loss.backward()
    opt.step()
    assert torch.isfinite(loss) and not torch.equal(before, model.head.weight)


@pytest.mark.parametrize("name", tm.MICRO_BACKBONES)
@pytest.mark.parametrize("edgenet", [True, False])
def test_micro_backbone_trains_one_step(name, edgenet):
    torch.manual_seed(0)
    model = tm.build_model(name, 3, image_size=32, edgenet=edgenet, dropout=0.1)
    assert model.uses_edgenet == edgenet
    out = model(torch.randn(4, 3, 32, 32))
    assert out.shape == (4, 3)
    out.sum().backward()
    assert all(p.grad is not None for p in model.parameters() if p.requires_grad)


@pytest.mark.parametrize("name", ["deit_micro", "swinv2_micro", "beit_micro"])
@pytest.mark.parametrize("n", [0, 1, 2])
def test_freezing_leaves_exactly_the_chosen_parameters(name, n):
    model = tm.build_model(name, 4, image_size=32, trainable_blocks=n)
    blocks = tm.backbone_blocks(model.backbone)
    chosen = tuple("backbone." + prefix + "." for prefix, _ in blocks[len(blocks) - n:]) if n else ()
    expected = {k for k, _ in model.named_parameters()
                if k.startswith(("edgenet.", "head.")) or (chosen and k.startswith(chosen))
                or k.startswith(tuple("backbone." + f for f in tm.FINAL_PREFIXES))}
    trainable = {k for k, p in model.named_parameters() if p.requires_grad}
    assert trainable == expected
    assert any(k.startswith("backbone.") for k in trainable) or n == 0
    assert not any("patch_embed" in k for k in trainable)


def test_trainable_all_and_bad_value():
    model = tm.build_model("vit_micro", 4, image_size=32, trainable_blocks=-1)
    assert all(p.requires_grad for p in model.parameters())
    with pytest.raises(ValueError, match="trainable_blocks"):
        tm.set_trainable(model, -3)


def test_pretrained_for_micro_variant_is_a_clear_error():
    with pytest.raises(tm.WeightsNotFoundError, match="micro"):
        tm.create_backbone("deit_micro", pretrained=True)


def test_weights_file_round_trip_safetensors(tmp_path):
    from safetensors.torch import save_file

    torch.manual_seed(1)
    a = tm.create_backbone("deit_micro", image_size=32)
    path = tmp_path / "w.safetensors"
    save_file({k: v.contiguous() for k, v in a.state_dict().items()}, str(path))
    torch.manual_seed(2)
    b = tm.create_backbone("deit_micro", image_size=32, weights_file=path)
    assert all(torch.equal(a.state_dict()[k], b.state_dict()[k]) for k in a.state_dict())


def test_weights_file_torch_save_round_trip(tmp_path):
    torch.manual_seed(1)
    a = tm.create_backbone("vit_micro", image_size=32)
    path = tmp_path / "w.pt"
    torch.save(a.state_dict(), path)
    torch.manual_seed(2)
    fresh = tm.create_backbone("vit_micro", image_size=32).state_dict()
    torch.manual_seed(2)
    b = tm.create_backbone("vit_micro", image_size=32, weights_file=path).state_dict()
    assert b.keys() == a.state_dict().keys()
    assert not all(torch.equal(a.state_dict()[k], fresh[k]) for k in b), "seeds 1 and 2 initialise differently"
    assert all(torch.equal(a.state_dict()[k], b[k]) for k in b), "every tensor comes back"


def test_weights_file_missing(tmp_path):
    with pytest.raises(tm.WeightsNotFoundError, match="does not exist"):
        tm.create_backbone("deit_micro", image_size=32, weights_file=tmp_path / "nope.safetensors")


def test_corrupt_torch_save_weights_file(tmp_path):
    # the catalogue's "corrupt weights file" covers .safetensors; this is the torch.save format
    pt = tmp_path / "broken.pt"
    pt.write_bytes(b"not a pickle at all")
    with pytest.raises(tm.WeightsError, match="broken.pt is corrupt"):
        tm.create_backbone("deit_micro", image_size=32, weights_file=pt)


def test_weights_file_with_wrong_shapes(tmp_path):
    a = tm.create_backbone("deit_micro", image_size=64)  # other image size: pos_embed shape differs
    path = tmp_path / "deit64.pt"
    torch.save(a.state_dict(), path)
    with pytest.raises(tm.WeightsError, match="shape mismatches.*pos_embed"):
        tm.create_backbone("deit_micro", image_size=32, weights_file=path)


def test_whole_model_weights_round_trip(tmp_path):
    m = tm.build_model("beit_micro", 3, image_size=32)
    path = tmp_path / "m.pt"
    torch.save(m.state_dict(), path)
    m2 = tm.build_model("beit_micro", 3, image_size=32)
    tm.load_model_weights(m2, path)
    assert all(torch.equal(m.state_dict()[k], m2.state_dict()[k]) for k in m.state_dict())
