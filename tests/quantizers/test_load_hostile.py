"""vqcore.load on untrusted files: every class of bad file is a ValueError naming the file and the fault,
refused before anything is built (the memory test checks that in a fresh process)."""
from __future__ import annotations

import json
import re
import struct
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import torch
from safetensors import safe_open
from safetensors.torch import save_file

import vqcore
from vqcore.quantizers import QUANTIZERS, serialization


def _raw(path: Path) -> tuple[dict[str, str], dict[str, torch.Tensor]]:
    with safe_open(str(path), framework="pt") as f:
        return dict(f.metadata()), {k: f.get_tensor(k) for k in f.keys()}  # noqa: SIM118


def _variant(src: Path, out: Path, *, config: Any = None, meta: dict[str, str] | None = None,
             tensors: Callable[[dict[str, torch.Tensor]], dict[str, torch.Tensor]] | None = None) -> Path:
    """A copy of the saved file ``src`` with its config (a dict, or raw text), metadata or tensors replaced."""
    m, t = _raw(src)
    if config is not None:
        m["config"] = config if isinstance(config, str) else json.dumps(config)
    m.update(meta or {})
    save_file(tensors(t) if tensors else t, str(out), metadata=m)
    return out


def _refused(path: Path, *what: str, **kwargs: Any) -> str:
    """Load ``path``; assert a ValueError whose message names the file and each of ``what``."""
    with pytest.raises(ValueError) as info:
        vqcore.load(path, **kwargs)
    message = str(info.value)
    assert str(path) in message
    for word in what:
        assert word in message, (word, message)
    return message


@pytest.fixture
def vq_file(tmp_path: Path) -> Path:
    """A saved VQ of 4 entries of dimension 64: the 1.3 KB file of the issue."""
    return vqcore.save(vqcore.VQ(64, bits=2), tmp_path / "vq.safetensors")


@pytest.fixture
def sfvq_file(tmp_path: Path) -> Path:
    return vqcore.save(vqcore.SpaceFillingVQ(8, bits=4), tmp_path / "sfvq.safetensors")


# -- the config against the memory bound and the tensors --------------------------------------------
def test_a_config_past_the_memory_bound_is_refused_before_building(vq_file, tmp_path):
    bad = _variant(vq_file, tmp_path / "big.safetensors", config={"dim": 64, "bits": 24})
    assert bad.stat().st_size < 2000
    _refused(bad, "config", "max_values")


def test_a_config_within_the_bound_must_match_the_tensors(vq_file, tmp_path):
    # 2**22 x 64 = max_values exactly: allowed by the bound, refused by the header's shape
    bad = _variant(vq_file, tmp_path / "b22.safetensors", config={"dim": 64, "bits": 22})
    _refused(bad, "'codebooks'", "(1, 4, 64)", "(1, 4194304, 64)")


def test_max_values_is_a_parameter(vq_file):
    assert vqcore.load(vq_file, max_values=256).codebook_size == 4
    _refused(vq_file, "max_values=255", max_values=255)
    for bad in (0, -1, 2.5, True, "many"):
        with pytest.raises(ValueError, match="max_values"):
            vqcore.load(vq_file, max_values=bad)


@pytest.mark.parametrize(("edit", "words"), [
    (lambda t: {}, ("'codebooks'", "missing")),
    (lambda t: {**t, "extra": torch.zeros(3)}, ("'extra'", "not part of VQ")),
    (lambda t: {"codebooks": torch.zeros(1, 4, 63)}, ("'codebooks'", "shape (1, 4, 63)")),
    (lambda t: {"codebooks": torch.zeros(4, 64)}, ("'codebooks'", "shape (4, 64)")),
    (lambda t: {"codebooks": torch.zeros(1, 4, 64, dtype=torch.long)}, ("'codebooks'", "dtype I64")),
    (lambda t: {"codebooks": torch.zeros(1, 4, 64, dtype=torch.bool)}, ("'codebooks'", "dtype BOOL")),
], ids=["missing", "extra", "wrong-dim", "wrong-rank", "integer", "bool"])
def test_tensors_that_do_not_match_the_config_are_named(vq_file, tmp_path, edit, words):
    _refused(_variant(vq_file, tmp_path / "t.safetensors", tensors=edit), *words)


def test_ema_without_its_buffers_is_refused(vq_file, tmp_path):
    cfg = {**vqcore.VQ(64, bits=2).config(), "estimator": "ema"}
    _refused(_variant(vq_file, tmp_path / "ema.safetensors", config=cfg), "'ema_cluster_size'", "missing", "ema")
    ema = vqcore.save(vqcore.VQ(64, bits=2, estimator="ema"), tmp_path / "ema-ok.safetensors")
    assert vqcore.load(ema).estimator == "ema"
    wrong = _variant(ema, tmp_path / "ema2.safetensors", tensors=lambda t: {**t, "ema_embed_sum": torch.zeros(1, 4, 8)})
    _refused(wrong, "'ema_embed_sum'", "shape")
    _refused(_variant(ema, tmp_path / "ema3.safetensors", config={**cfg, "estimator": "nsvq"}),
             "'ema_cluster_size'", "not part of VQ")


def test_the_expected_tensors_are_what_every_class_stores():
    """load's table of tensors per class agrees with what the classes really store."""
    cases = [vqcore.VQ(6, 3), vqcore.VQ(6, 3, estimator="ema"), vqcore.ResidualVQ(6, 2, 3, estimator="ema"),
             vqcore.ResidualVQ(6, 2, 3), vqcore.AdditiveVQ(6, 2, 3), vqcore.ProductVQ(6, 3, 2),
             vqcore.SpaceFillingVQ(6, 3, estimator="ste")]
    assert {type(q).__name__ for q in cases} == set(QUANTIZERS)
    for q in cases:
        args = serialization._check_config("f", type(q), q.config())
        expected, size = serialization._expected_tensors("f", type(q), args, serialization.MAX_VALUES)
        state = q.state_dict()
        assert size == q.codebook_size
        assert {k: (tuple(v.shape), v.is_floating_point()) for k, v in state.items()} == \
            {k: (e.shape, e.floating) for k, e in expected.items()}


def test_constructor_refusals_are_named(tmp_path):
    # SFVQ takes bits <= 20: the tensors match 2**21 entries (an 8 MB file), the constructor refuses it
    base = vqcore.save(vqcore.SpaceFillingVQ(1, bits=2), tmp_path / "s.safetensors")
    bad = _variant(base, tmp_path / "s21.safetensors", config={"dim": 1, "bits": 21},
                   tensors=lambda t: {"codebooks": torch.zeros(1, 2 ** 21, 1), "_num_active": torch.tensor(4)})
    _refused(bad, "config is not valid for SpaceFillingVQ", "bits", "20")
    pvq = vqcore.save(vqcore.ProductVQ(8, 2, 2), tmp_path / "p.safetensors")
    _refused(_variant(pvq, tmp_path / "p3.safetensors", config={"dim": 8, "stages": 3, "bits_per_stage": 2}),
             "'dim'", "divisible")


# -- the config itself -------------------------------------------------------------------------------
@pytest.mark.parametrize(("config", "words"), [
    ("[8, 2]", ("'config'", "JSON object", "list")),
    ('"dim"', ("'config'", "JSON object", "str")),
    ("[" * 20000 + "]" * 20000, ("'config'", "nested too deeply")),
    ('{"dim": ' + "[" * 5000 + "]" * 5000 + ', "bits": 2}', ("'config'",)),
    ('{"dim": %s, "bits": 2}' % ("9" * 5000), ("'config'", "5000 digits")),
    ('{"dim": 64, "bits": 2, "beta": NaN}', ("'config'", "NaN")),
    ('{"dim": 64, "bits": 2, "init_std": -Infinity}', ("'config'", "Infinity")),
    ('{"dim": 64, "bits": 2, "beta": 1e999}', ("config key 'beta'", "finite")),
    ('{"dim": 64, ', ("'config'", "not valid JSON")),
    ('{"dim": 64}', ("config", "'bits'")),
    ('{"dim": 64, "bits": 2, "stages": 2}', ("config key 'stages'", "not an argument")),
    ('{"dim": 64.0, "bits": 2}', ("config key 'dim'", "integer")),
    ('{"dim": true, "bits": 2}', ("config key 'dim'", "integer")),
    ('{"dim": 64, "bits": -2}', ("config key 'bits'", "integer >= 1")),
    ('{"dim": 64, "bits": 2, "beta": "abc"}', ("config key 'beta'", "number")),
    ('{"dim": 64, "bits": 2, "estimator": ["ema"]}', ("config key 'estimator'", "string")),
    ('{"dim": 64, "bits": 2, "estimator": "fancy"}', ("config key 'estimator'", "fancy")),
    ('{"dim": 64, "bits": 100000}', ("config key 'bits'", "max_values")),
    ('{"dim": 64, "bits": 2, "pad": "%s"}' % ("x" * 70000), ("'config'", "characters")),
], ids=["list", "string", "deep", "deep-value", "digits", "nan", "inf", "overflow", "truncated", "lacks-key",
        "unknown-key", "float-int", "bool-int", "negative", "str-float", "list-str", "estimator", "huge-bits",
        "long"])
def test_a_bad_config_is_named(vq_file, tmp_path, config, words):
    _refused(_variant(vq_file, tmp_path / "c.safetensors", config=config), *words)


def test_bad_metadata_is_named(vq_file, tmp_path):
    _refused(_variant(vq_file, tmp_path / "k.safetensors", meta={"class": "Pickle"}), "'class'", "Pickle")
    m, t = _raw(vq_file)
    del m["config"]
    save_file(t, str(tmp_path / "n.safetensors"), metadata=m)
    _refused(tmp_path / "n.safetensors", "'config'", "missing")
    _refused(_variant(vq_file, tmp_path / "f.safetensors", meta={"format": "other/1"}), "'format'")
    avq = vqcore.save(vqcore.AdditiveVQ(8, 2, 2), tmp_path / "a.safetensors")
    cfg = vqcore.AdditiveVQ(8, 2, 2).config()
    _refused(_variant(avq, tmp_path / "a2.safetensors", config={**cfg, "ordered_track": "yes"}),
             "config key 'ordered_track'")
    _refused(_variant(avq, tmp_path / "a3.safetensors", config={**cfg, "estimator": "ema"}),
             "config key 'estimator'")


# -- the tensors' values -----------------------------------------------------------------------------
@pytest.mark.parametrize("value", [0, 1, 2, 3, 5, 6, 12, 17, 32, -4])
def test_sfvq_active_vertices_must_be_a_power_of_two_from_4_to_the_codebook_size(sfvq_file, tmp_path, value):
    bad = _variant(sfvq_file, tmp_path / "a.safetensors", tensors=lambda t: {**t, "_num_active": torch.tensor(value)})
    _refused(bad, "'_num_active'", "power of two from 4 to 16", f"got {value}")


@pytest.mark.parametrize("value", [4, 8, 16])
def test_sfvq_valid_active_vertices_load(sfvq_file, tmp_path, value):
    ok = _variant(sfvq_file, tmp_path / "a.safetensors",
                  tensors=lambda t: {**t, "_num_active": torch.tensor(value, dtype=torch.int32)})
    q = vqcore.load(ok)
    assert q.num_active == value and q.encode(torch.randn(5, 8)).max() < value
    _refused(_variant(sfvq_file, tmp_path / "f.safetensors",
                      tensors=lambda t: {**t, "_num_active": torch.tensor(float(value))}), "'_num_active'", "dtype F32")


@pytest.mark.parametrize(("fill", "words"), [
    (float("nan"), ("NaN or inf",)), (float("inf"), ("NaN or inf",)), (-float("inf"), ("NaN or inf",)),
    (1e300, ("beyond",)), (1e30, ("too large to search",)),
], ids=["nan", "inf", "-inf", "float64-overflow", "norm-overflow"])
def test_non_finite_codebooks_are_refused(vq_file, tmp_path, fill, words):
    def edit(t: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        books = t["codebooks"].double()
        books[0, 2, 5] = fill
        return {"codebooks": books}
    _refused(_variant(vq_file, tmp_path / "n.safetensors", tensors=edit), "'codebooks'", *words)


def test_bad_ema_buffers_are_refused(tmp_path):
    ema = vqcore.save(vqcore.ResidualVQ(4, 2, 2, estimator="ema"), tmp_path / "e.safetensors")
    nan = _variant(ema, tmp_path / "e1.safetensors", tensors=lambda t: {**t, "ema_embed_sum": t["ema_embed_sum"] / 0})
    _refused(nan, "'ema_embed_sum'", "NaN or inf")
    negative = _variant(ema, tmp_path / "e2.safetensors",
                        tensors=lambda t: {**t, "ema_cluster_size": t["ema_cluster_size"] - 2})
    _refused(negative, "'ema_cluster_size'", "negative")


def test_lower_precision_and_float64_files_still_load(tmp_path):
    q = vqcore.ResidualVQ(8, 2, 3)
    src = vqcore.save(q, tmp_path / "q.safetensors")
    for dtype in (torch.float16, torch.bfloat16, torch.float64):
        back = vqcore.load(_variant(src, tmp_path / f"{dtype}.safetensors",
                                    tensors=lambda t: {"codebooks": t["codebooks"].to(dtype)}))
        assert back.codebooks.dtype == torch.float32
        assert torch.equal(back.codebooks, q.codebooks.detach().to(dtype).float())


# -- device and save ---------------------------------------------------------------------------------
@pytest.mark.parametrize("device", ["bogus", "meta", 3.5, "cuda:99", None, ["cpu"]])
def test_a_bad_device_is_named(vq_file, device):
    _refused(vq_file, "device", device=device)


def test_cuda_without_cuda_is_named(vq_file):
    if torch.cuda.is_available():
        pytest.skip("CUDA is available here")
    _refused(vq_file, "device", "'cuda'", device="cuda")


def test_save_to_an_unwritable_place_names_the_target(tmp_path):
    q = vqcore.VQ(4, 2)
    (tmp_path / "folder").mkdir()
    with pytest.raises(ValueError, match=re.escape(str(tmp_path / "folder")) + ": cannot write") as info:
        vqcore.save(q, tmp_path / "folder")
    assert ".tmp" not in str(info.value)
    (tmp_path / "plain").write_text("x")
    target = tmp_path / "plain" / "q.safetensors"
    with pytest.raises(ValueError, match=re.escape(str(target)) + ": cannot write"):
        vqcore.save(q, target)
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]


# -- memory: a hostile file is refused before anything big is allocated --------------------------------
_MEMORY_SCRIPT = """
import json, resource, sys
import vqcore
def peak(): return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
for _ in range(3):
    vqcore.load(sys.argv[1])
base, out = peak(), {}
for p in sys.argv[2:]:
    try:
        vqcore.load(p); out[p] = "loaded"
    except ValueError as exc:
        out[p] = str(exc)
print(json.dumps({"grew": peak() - base, "results": out}))
"""


def _huge_header(path: Path) -> Path:
    """A 300-byte safetensors file whose header claims a 4 GiB codebook."""
    meta = {"format": serialization.FORMAT, "class": "VQ", "config": json.dumps({"dim": 64, "bits": 24})}
    header = json.dumps({"__metadata__": meta, "codebooks": {"dtype": "F32", "shape": [1, 2 ** 24, 64],
                                                             "data_offsets": [0, 4 * 2 ** 30]}}).encode()
    path.write_bytes(struct.pack("<Q", len(header)) + header)
    return path


def test_hostile_files_allocate_at_most_a_few_mb(vq_file, tmp_path):
    sfvq = vqcore.save(vqcore.SpaceFillingVQ(8, bits=4), tmp_path / "sf.safetensors")
    rvq = vqcore.save(vqcore.ResidualVQ(8, 2, 2, estimator="ema"), tmp_path / "rvq.safetensors")
    hostile = [
        _variant(vq_file, tmp_path / "h1.safetensors", config={"dim": 64, "bits": 24}),  # 4 GiB before the fix
        _variant(vq_file, tmp_path / "h2.safetensors", config={"dim": 64, "bits": 22}),  # 1 GiB, within the bound
        _variant(vq_file, tmp_path / "h3.safetensors", config={"dim": 64, "bits": 22, "estimator": "ema"}),
        _variant(sfvq, tmp_path / "h4.safetensors", config={"dim": 256, "bits": 20}),
        _variant(rvq, tmp_path / "h5.safetensors", config={"dim": 2 ** 10, "stages": 2 ** 4, "bits_per_stage": 14,
                                                           "estimator": "ema"}),
        _huge_header(tmp_path / "h6.safetensors"),
        _variant(vq_file, tmp_path / "h7.safetensors", config="[" * 60000 + "]" * 60000),
    ]
    run = subprocess.run([sys.executable, "-c", _MEMORY_SCRIPT, str(vq_file), *map(str, hostile)],
                         capture_output=True, text=True, timeout=300, check=True)
    report = json.loads(run.stdout.strip().splitlines()[-1])
    for path in hostile:
        assert str(path) in report["results"][str(path)], report["results"][str(path)]
    assert report["grew"] < 8 * 2 ** 20, report  # 2 GiB and more before the checks came first
