import torch
from torch import nn

from deepwild.models import build_model
from deepwild.models.inference import fold_batchnorm

torch.set_num_threads(1)


def _with_trained_statistics(model: nn.Module) -> nn.Module:
    """Batch norms with non-trivial running statistics and affine parameters, as after training."""
    generator = torch.Generator().manual_seed(0)
    for module in model.modules():
        if isinstance(module, nn.BatchNorm2d):
            n = module.num_features
            module.running_mean.copy_(torch.randn(n, generator=generator))
            module.running_var.copy_(torch.rand(n, generator=generator) + 0.2)
            module.weight.data.copy_(torch.randn(n, generator=generator))
            module.bias.data.copy_(torch.randn(n, generator=generator))
    return model.eval()


def test_folded_detector_computes_the_same_maps_without_batch_norms():
    model = _with_trained_statistics(build_model("dwd", num_classes=7, groups=2, widths=(4, 8, 8, 8), head_width=8))
    folded = fold_batchnorm(model)
    assert not any(isinstance(m, nn.BatchNorm2d) for m in folded.modules())
    assert any(isinstance(m, nn.BatchNorm2d) for m in model.modules())  # the original is untouched
    x = torch.rand(1, 1, 40, 48)
    with torch.no_grad():
        expected, got = model.forward_maps(x), folded.forward_maps(x)
    for key in expected:
        torch.testing.assert_close(got[key], expected[key], rtol=1e-4, atol=1e-4)


def test_folding_keeps_a_classifier_and_a_conv_bias():
    model = _with_trained_statistics(build_model("small_cnn", in_channels=1, num_classes=3, width=4))
    model.conv1[0].bias = nn.Parameter(torch.randn(4))  # a convolution that has its own bias
    x = torch.rand(2, 1, 16, 16)
    with torch.no_grad():
        torch.testing.assert_close(fold_batchnorm(model)(x), model(x), rtol=1e-4, atol=1e-4)
