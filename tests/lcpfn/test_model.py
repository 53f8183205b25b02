import torch

from lcpfn.model import PFN, ModelConfig

CFG = ModelConfig(d_model=32, n_layers=2, n_heads=4, d_ff=64, n_bars=20, max_context=16)


def _inputs(b=3, nc=7, nq=5, seed=0):
    g = torch.Generator().manual_seed(seed)
    f = CFG.n_features
    return torch.randn(b, nc, f, generator=g), torch.randn(b, nc, generator=g), torch.randn(b, nq, f, generator=g)


def test_output_shape():
    x_ctx, y_ctx, x_qry = _inputs()
    assert PFN(CFG)(x_ctx, y_ctx, x_qry).shape == (3, 5, CFG.n_bars)


def test_queries_are_independent():
    torch.manual_seed(0)
    model = PFN(CFG).eval()
    x_ctx, y_ctx, x_qry = _inputs()
    full = model(x_ctx, y_ctx, x_qry)
    for j in range(x_qry.shape[1]):
        alone = model(x_ctx, y_ctx, x_qry[:, j : j + 1])
        torch.testing.assert_close(alone[:, 0], full[:, j], atol=1e-5, rtol=1e-5)


def test_padding_masked_context_equals_the_unpadded_one():
    torch.manual_seed(0)
    model = PFN(CFG).eval()
    x_ctx, y_ctx, x_qry = _inputs(nc=5)
    ref = model(x_ctx, y_ctx, x_qry)
    pad_x = torch.cat([x_ctx, 100 * torch.randn(3, 4, CFG.n_features)], 1)
    pad_y = torch.cat([y_ctx, 100 * torch.randn(3, 4)], 1)
    mask = torch.arange(9)[None].expand(3, 9) < 5
    torch.testing.assert_close(model(pad_x, pad_y, x_qry, mask), ref, atol=1e-5, rtol=1e-5)


def test_context_values_matter():
    torch.manual_seed(0)
    model = PFN(CFG).eval()
    x_ctx, y_ctx, x_qry = _inputs()
    assert not torch.allclose(model(x_ctx, y_ctx, x_qry), model(x_ctx, y_ctx + 1.0, x_qry))


def test_config_round_trips_through_json():
    import json

    assert ModelConfig.from_dict(json.loads(CFG.to_json())) == CFG
