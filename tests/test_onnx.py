"""ONNX in (`sedse.workload.from_onnx`, `--model net.onnx`): a shipped torch model
exported with torch.onnx.export reads back as the workload tracing gives (conv,
grouped, depthwise, FC), and a bad file is one line."""

from __future__ import annotations

import warnings

import pytest

import sedse_models
from sedse.cli import main
from sedse.errors import SpecError
from sedse.workload import from_onnx
from sedse.workload._onnx import module_path

onnx = pytest.importorskip("onnx")


def _export(name: str, path):
    import torch

    m = sedse_models.build(name)
    m.eval()
    x = torch.zeros(1, *sedse_models.MODELS[name].input_chw)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(m, (x,), str(path), dynamo=False)
    return path


@pytest.mark.parametrize("name", ["lenet5", "alexnet", "resnet18", "mobilenetv2"])
def test_exported_model_reads_back_as_its_traced_workload(name, tmp_path):
    """alexnet: grouped convolutions; resnet18: 1x1 strided downsampling, BN folded
    into the convolutions by the exporter; mobilenetv2: depthwise."""
    wl = from_onnx(_export(name, tmp_path / f"{name}.onnx"), name=name)
    assert wl == sedse_models.workload(name)


def test_module_path_from_node_names():
    assert module_path("/layer1/layer1.0/conv1/Conv") == "layer1.0.conv1"
    assert module_path("/features/features.1/conv/conv.0/conv.0.0/Conv") == \
        "features.1.conv.0.0"
    assert module_path("/fc/Gemm") == "fc"
    assert module_path("Conv_3") == ""


def test_cli_takes_an_onnx_model(tmp_path, capsys):
    f = _export("lenet5", tmp_path / "lenet5.onnx")
    assert main(["eval", "--model", str(f), "--hw", "eyeriss", "--budget", "300"]) == 0
    onnx_out = capsys.readouterr().out
    assert main(["eval", "--model", "lenet5", "--hw", "eyeriss", "--budget", "300"]) == 0
    shipped = capsys.readouterr().out
    total = [ln for ln in onnx_out.splitlines() if ln.startswith("TOTAL")]
    assert total and total == [ln for ln in shipped.splitlines() if ln.startswith("TOTAL")]


def test_bad_onnx_file_is_one_line(tmp_path, capsys):
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"\x08\x07not a protobuf of a model")
    with pytest.raises(SpecError, match="bad.onnx"):
        from_onnx(bad)
    assert main(["eval", "--model", str(bad), "--hw", "eyeriss"]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "bad.onnx" in err


def test_batch_is_refused_for_onnx(tmp_path, capsys):
    f = _export("lenet5", tmp_path / "l.onnx")
    assert main(["eval", "--model", str(f), "--hw", "eyeriss", "--batch", "4"]) == 2
    assert "--batch: an ONNX model's shapes are fixed" in capsys.readouterr().err
