"""Per-customer adapters from a registry folder, without Serve: ids, refusals, one shared base."""

from __future__ import annotations

import pytest

from ilid_ray.serve.adapters import AdapterRegistry, SharedBases
from ilid_ray.serve.inputs import InputError
from tests.serve.conftest import write_adapter_registry


@pytest.fixture(scope="module")
def registry(tmp_path_factory):
    root = write_adapter_registry(tmp_path_factory.mktemp("reg"), ids=("a", "b"))
    (root / "loose.safetensors").write_bytes((root / "a" / "model.safetensors").read_bytes())
    (root / "notes.txt").write_text("not a checkpoint")
    return AdapterRegistry(str(root))


def test_registry_lists_folder_and_file_checkpoints(registry):
    assert registry.ids() == ["a", "b", "loose"]
    assert registry.checkpoint("loose").endswith("/loose.safetensors")


@pytest.mark.parametrize("model_id, status, code", [("nope", 404, "unknown_model"), ("../a", 400, "invalid_model_id"),
                                                     ("a/model", 400, "invalid_model_id"), ("", 400, "invalid_model_id")])
def test_unknown_or_malformed_ids_are_refused(registry, model_id, status, code):
    with pytest.raises(InputError) as info:
        registry.checkpoint(model_id)
    assert (info.value.status, info.value.code) == (status, code)


def test_adapters_of_one_base_share_its_weights(registry):
    import torch

    bases = SharedBases("cpu")
    a, b = (bases.load_adapter(registry.checkpoint(i)) for i in ("a", "b"))
    assert a.clip is b.clip and len(bases._bases) == 1  # one frozen CLIP, two adapters
    assert any(not torch.equal(x, y) for x, y in zip(a.trainable_state_dict().values(),
                                                      b.trainable_state_dict().values()))
