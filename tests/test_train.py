import torch

from robustbench_snn.data import load_dataset
from robustbench_snn.registry import create_model
from robustbench_snn.train import TrainConfig, fit, recalibrate_batchnorm
from robustbench_snn.defenses import Defense


def test_recalibrated_batchnorm_holds_the_exact_data_statistics():
    data = load_dataset("digits", "train").head(300)
    model = create_model("snn-cnn", data.in_shape, 10, T=2)
    fit(model, data, TrainConfig(epochs=1, batch_size=100), Defense(), quiet=True)
    recalibrate_batchnorm(model, data, batch_size=300)
    conv_bn = model.body[0].module  # Conv2d -> BatchNorm2d
    with torch.no_grad():
        current = conv_bn[0](model.encoder(data.x).flatten(0, 1))  # [T*N, C, H, W]
    assert torch.allclose(conv_bn[1].running_mean, current.mean((0, 2, 3)), atol=1e-5)
    assert torch.allclose(conv_bn[1].running_var, current.var((0, 2, 3)), rtol=1e-3)
    assert conv_bn[1].momentum == 0.1 and not model.training


def test_training_lowers_loss_and_is_seeded():
    data = load_dataset("digits", "train").head(256)
    losses = []
    for _ in range(2):
        torch.manual_seed(0)
        model = create_model("snn-mlp", data.in_shape, 10, T=2)
        losses.append(fit(model, data, TrainConfig(epochs=3, seed=5), Defense(), quiet=True))
    assert losses[0] == losses[1]
    assert losses[0][-1] < losses[0][0]
