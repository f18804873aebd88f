"""model.source: huggingface in the front end: the signature derived from the folder's own files,
the hub cache resolved offline, and every kind of bad folder, task or text file as a spec error
(exit 2) naming its key."""

from __future__ import annotations

import json
import shutil
import time

import pytest

from compiler.errors import SpecError
from compiler.frontend import load_spec
from tests.text_models import text_spec, tiny_bert


@pytest.fixture(scope="module")
def tiny_folders(tmp_path_factory):
    base = tmp_path_factory.mktemp("tiny-hf")
    return {"embed": tiny_bert(base / "embed"), "classify": tiny_bert(base / "classify", classifier=True),
            "tokens": tiny_bert(base / "tokens", tokens=True)}


@pytest.fixture
def embed(tiny_folders, tmp_path):
    return shutil.copytree(tiny_folders["embed"], tmp_path / "model")


@pytest.fixture
def classify(tiny_folders, tmp_path):
    return shutil.copytree(tiny_folders["classify"], tmp_path / "clf")


def issues(spec_path, overrides=()):
    with pytest.raises(SpecError) as err:
        load_spec(spec_path, list(overrides))
    return {i.path: i for i in err.value.issues}


def test_the_signature_is_derived_from_the_model(embed, classify, tmp_path):
    spec = load_spec(text_spec(embed))
    assert [(t.name, t.dtype, t.shape) for t in spec.model.inputs] == [
        ("input_ids", "int64", ("batch", "seq")), ("attention_mask", "int64", ("batch", "seq")),
        ("token_type_ids", "int64", ("batch", "seq"))]
    assert [(t.name, t.shape) for t in spec.model.outputs] == [("embedding", ("batch", 32))]
    assert spec.resolved["model"]["inputs"][0]["range"] == [0, 30521]  # what explain shows
    spec = load_spec(text_spec(classify, "text-classification"))
    assert [(t.name, t.shape) for t in spec.model.outputs] == [("logits", ("batch", 3))]
    assert spec.model.labels == ("negative", "neutral", "positive")


def test_token_classification_scores_every_token(tiny_folders, tmp_path):
    folder = shutil.copytree(tiny_folders["tokens"], tmp_path / "ner")
    spec = load_spec(text_spec(folder, "token-classification"))
    assert [(t.name, t.shape) for t in spec.model.outputs] == [("logits", ("batch", "seq", 6))]
    assert spec.model.labels == ("O", "B-PER", "I-PER", "B-LOC", "I-LOC", "MISC")
    assert "sequence-classification head" in issues(text_spec(folder, "text-classification"))["model.task"].message


def test_pooling_modes_concatenate(embed):
    (embed / "1_Pooling" / "config.json").write_text(json.dumps({"pooling_mode": ["cls", "max"]}))
    assert load_spec(text_spec(embed)).model.outputs[0].shape == ("batch", 64)


@pytest.mark.parametrize("missing, words", [("tokenizer.json", "tokenizer.json"), ("model.safetensors", "weights")])
def test_a_folder_without_tokenizer_or_weights(embed, missing, words):
    (embed / missing).unlink()
    found = issues(text_spec(embed))
    assert "model.path" in found and words in found["model.path"].message
    assert found["model.path"].file == "deploy.yaml" and found["model.path"].line == 8


def test_a_folder_that_is_not_one(tmp_path):
    (tmp_path / "model").mkdir()
    assert "no config.json" in issues(text_spec(tmp_path / "model"))["model.path"].message
    assert "folder not found" in issues(text_spec(tmp_path / "model"), ["model.path=nothing"])["model.path"].message


def test_a_task_the_head_cannot_do(embed, classify):
    message = issues(text_spec(embed, "text-classification"))["model.task"].message
    assert "sequence-classification head" in message and "id2label" in message
    message = issues(text_spec(classify, "token-classification"))["model.task"].message
    assert "token-classification head" in message and "ForTokenClassification" in message
    assert "needs one of" in issues(text_spec(classify, "classification"))["model.task"].message


@pytest.mark.parametrize("config, words", [
    ({"pooling_mode": "median"}, "'median' is unknown"),
    ({"pooling_mode": "lasttoken"}, "'lasttoken' is not supported yet"),
    ({"pooling_mode_weightedmean_tokens": True}, "'weightedmean' is not supported yet"),
])
def test_a_pooling_mode_that_is_not_built(embed, config, words):
    (embed / "1_Pooling" / "config.json").write_text(json.dumps(config))
    message = issues(text_spec(embed))["model.path"].message
    assert "1_Pooling/config.json" in message and words in message


def test_sentence_transformers_modules_it_does_not_build(embed):
    modules = json.loads((embed / "modules.json").read_text())
    (embed / "modules.json").write_text(json.dumps(modules + [{"path": "3_Dense", "type": "sentence_transformers.models.Dense"}]))
    assert "Dense" in issues(text_spec(embed))["model.path"].message


def test_max_length_is_capped_by_the_model_positions(embed):
    message = issues(text_spec(embed), ["model.max_length=512"])["model.max_length"].message
    assert "128 positions" in message


def test_a_huggingface_source_writes_no_signature_and_reads_text(embed):
    path = text_spec(embed, extra="")
    text = path.read_text().replace("  max_length: 64\n", "  max_length: 64\n  inputs: [{name: x, dtype: int64, shape: [batch]}]\n"
                                    "  labels: [a]\n")
    path.write_text(text)
    found = issues(path)
    assert "derived from the model" in found["model.inputs"].message and "model.labels" in found
    path.write_text(text_spec(embed).read_text().replace("evaluation: {text: eval.jsonl}", "evaluation: {npz: x.npz}"))
    assert "reads text" in issues(path)["model.evaluation"].message
    path.write_text(text_spec(embed).read_text().replace("  evaluation: {text: eval.jsonl}\n", ""))
    assert "verified on text" in issues(path)["model.evaluation"].message


def test_other_sources_still_need_their_signature(tmp_path):
    (tmp_path / "m.onnx").write_bytes(b"")
    path = tmp_path / "deploy.yaml"
    path.write_text("defaults: [{target: cpu-x86}, _self_]\nname: x\nversion: '1'\nmodel: {source: onnx, onnx: m.onnx, "
                    "task: sentence-embedding}\n")
    found = issues(path)
    assert "required for model.source onnx" in found["model.inputs"].message
    assert "for model.source huggingface" in found["model.task"].message


@pytest.mark.parametrize("line, words", [
    ("not json", "eval.jsonl:2: not a JSON object"),
    (json.dumps({"txt": "a"}), "eval.jsonl:2: each line is an object with a non-empty \"text\""),
    (json.dumps({"text": "a", "label": "positive"}), "eval.jsonl:2: a \"label\" is for task text-classification"),
])
def test_bad_text_lines_name_file_and_line(embed, line, words):
    path = text_spec(embed)
    (path.parent / "eval.jsonl").write_text(json.dumps({"text": "fine"}) + "\n" + line + "\n")
    assert words in issues(path)["model.evaluation.text"].message


def test_classifier_labels_are_names_or_indices(classify):
    rows = [{"text": "good", "label": "positive"}, {"text": "meh", "label": 1}]
    assert load_spec(text_spec(classify, "text-classification", rows=rows)).model.task == "text-classification"
    rows[1]["label"] = "great"
    message = issues(text_spec(classify, "text-classification", rows=rows))["model.evaluation.text"].message
    assert "'great' is not one of the model's labels (negative, neutral, positive)" in message


def test_edge_targets_fix_seq_at_max_length(embed):
    spec = load_spec(text_spec(embed, target="android-arm64"))
    assert spec.optimize.edge.fixed_dims == {"seq": 64}
    found = issues(text_spec(embed, target="android-arm64"), ["optimize.edge.fixed_dims.seq=32"])
    assert "differs from model.max_length" in found["optimize.edge.fixed_dims.seq"].message


def _fake_cache(root, hub_id, revision, source):
    """The local Hugging Face cache layout: refs/<name> -> a commit, snapshots/<commit>/files."""
    repo = root / f"models--{hub_id.replace('/', '--')}"
    commit = "0123456789abcdef0123456789abcdef01234567"
    shutil.copytree(source, repo / "snapshots" / commit)
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / revision).write_text(commit)


def test_a_hub_id_resolves_from_the_local_cache_only(embed, tmp_path, monkeypatch):
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "hub"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "0")  # even allowed online, a build must not download
    path = text_spec(embed)
    text = path.read_text().replace("  path: model\n", "  hub_id: acme/tiny-embed\n  revision: main\n")
    path.write_text(text)
    start = time.monotonic()
    message = issues(path)["model.hub_id"].message
    assert "not in the local Hugging Face cache" in message and time.monotonic() - start < 10
    _fake_cache(tmp_path / "hub", "acme/tiny-embed", "main", embed)
    spec = load_spec(path)
    assert spec.model.outputs[0].shape == ("batch", 32)
    path.write_text(text.replace("  revision: main\n", ""))
    assert "pin the revision" in issues(path)["model.revision"].message


def test_validate_exits_2_without_a_traceback(embed, cli):
    (embed / "tokenizer.json").unlink()
    r = cli("validate", str(text_spec(embed)))
    assert r.returncode == 2 and "Traceback" not in r.stderr and "tokenizer.json" in r.stderr + r.stdout
