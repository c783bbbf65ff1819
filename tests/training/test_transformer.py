"""Transformer path on a tiny character BERT: pretraining (and resuming), multi-head fine-tuning with missing
labels, loading a base model, the no-hub error, ONNX export and its parity, and the serving loader's errors."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("torch")
pytest.importorskip("transformers")
pytest.importorskip("accelerate")

from training.transformer import (
    FinetuneArguments,
    HubUnreachableError,
    PretrainArguments,
    build_char_vocab,
    char_tokenizer,
    export_onnx,
    finetune,
    pretrain,
    write_vocab,
)
from triage.normalise import normalise
from triage.transformer import TransformerHeads

TINY = {"hidden_size": 32, "num_hidden_layers": 2, "num_attention_heads": 2, "intermediate_size": 64}
PLACES = ["小区", "学校旁边", "工厂", "商场附近", "街道", "村里", "菜市场", "公园", "医院旁", "路口"]
HELD_OUT_PLACES = ["车站", "广场", "楼下"]
TOPICS = {"环境保护": "噪音很大晚上睡不着", "劳动和社会保障": "老板拖欠工资三个月"}
CATEGORIES = {"投诉": "我要投诉", "咨询": "想咨询一下"}


def _rows(places: list[str]) -> list[tuple[str, str, str]]:
    """(text, topic, category): the topic is given away by 噪音 / 工资, the category by 投诉 / 咨询."""
    rows = []
    for place in places:
        for topic, topic_words in TOPICS.items():
            for category, category_words in CATEGORIES.items():
                rows.append((f"{category_words}，{place}{topic_words}", topic, category))
    return rows


TRAIN = _rows(PLACES)  # 40 rows
HELD_OUT = _rows(HELD_OUT_PLACES)  # 12 rows
CORPUS = [text for text, _, _ in TRAIN] + [
    "市民来电反映小区门口的路灯坏了",
    "请问社保卡在哪里办理",
    "马路上的红绿灯不亮了",
    "公交车晚上停运太早",
    "楼上装修声音太吵",
    "工厂排放废水污染河流",
    "公司不给缴纳养老保险",
    "孩子上学的事情想了解一下",
    "Wi-Fi 信号不好 ABC123 测试",
] * 2


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """Tiny models gain nothing from threads, and spinning threads crawl when the machine is busy."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("transformer")


@pytest.fixture(scope="module")
def pretrained(workdir: Path) -> Path:
    corpus = workdir / "corpus.txt"
    corpus.write_text("\n".join(CORPUS) + "\n", encoding="utf-8")
    args = PretrainArguments(
        output_dir=str(workdir / "pretrained"),
        corpus_files=[str(corpus)],
        max_length=32,
        max_position_embeddings=64,
        per_device_batch_size=8,
        max_steps=3,
        save_steps=3,
        logging_steps=1,
        learning_rate=1e-3,
        progress=False,
        **TINY,
    )
    return pretrain(args)


@pytest.fixture(scope="module")
def finetuned(workdir: Path, pretrained: Path) -> Path:
    texts = [t for t, _, _ in TRAIN]
    topics: list[str | None] = [topic for _, topic, _ in TRAIN]
    categories: list[str | None] = [c if i % 3 != 1 else None for i, (_, _, c) in enumerate(TRAIN)]  # 13 of 40 missing
    args = FinetuneArguments(
        base_model=str(pretrained),
        output_dir=str(workdir / "finetuned"),
        heads=["category", "topic"],
        max_length=32,
        per_device_batch_size=4,
        learning_rate=2e-3,
        epochs=25,
        warmup_ratio=0.0,
        dropout=0.0,
        save_steps=1000,
        logging_steps=10,
    )
    eval_texts = [t for t, _, _ in HELD_OUT]
    eval_labels: dict[str, list[str | None]] = {"topic": [t for _, t, _ in HELD_OUT], "category": [c for _, _, c in HELD_OUT]}
    return finetune(args, texts, {"topic": topics, "category": categories}, eval_texts, eval_labels, progress=False)


def test_char_vocab_spells_any_ascii_word() -> None:
    vocab = build_char_vocab(["噪音噪音扰民", "工资工资"], min_freq=2, max_size=200)
    assert vocab[:5] == ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    assert {"噪", "音", "工", "资", "a", "##z", "##9"} <= set(vocab)
    assert "扰" not in vocab  # seen once
    assert len(vocab) == len(set(vocab))


def test_char_tokenizer_splits_characters(tmp_path: Path) -> None:
    vocab = build_char_vocab(["噪音扰民 abc12"], min_freq=1)
    tokenizer = char_tokenizer(write_vocab(vocab, tmp_path / "vocab.txt"))
    tokens = tokenizer.convert_ids_to_tokens(tokenizer("噪音ABC12")["input_ids"])
    assert tokens == ["[CLS]", "噪", "音", "a", "##b", "##c", "##1", "##2", "[SEP]"]


def test_pretraining_writes_a_model_and_resumes(pretrained: Path) -> None:
    from transformers import AutoModelForMaskedLM, AutoTokenizer

    first = json.loads((pretrained / "pretrain_result.json").read_text(encoding="utf-8"))
    assert first["global_step"] == 3 and first["resumed_from"] is None
    assert (pretrained / "checkpoints" / "checkpoint-3").is_dir()
    assert AutoModelForMaskedLM.from_pretrained(str(pretrained)).config.hidden_size == 32
    assert AutoTokenizer.from_pretrained(str(pretrained)).vocab_size > 50
    card = (pretrained / "README.md").read_text(encoding="utf-8")
    assert "sha256" in card and "final MLM loss" in card

    # a copy, so the fine-tuning fixture keeps its 3-step base; a larger max_steps trains on from checkpoint-3
    resumed_dir = pretrained.parent / "pretrained-resumed"
    shutil.copytree(pretrained, resumed_dir)
    args = json.loads((pretrained / "pretrain_args.json").read_text(encoding="utf-8"))
    args.update(output_dir=str(resumed_dir), max_steps=5)
    pretrain(PretrainArguments(**args))
    second = json.loads((resumed_dir / "pretrain_result.json").read_text(encoding="utf-8"))
    assert second["global_step"] == 5
    assert second["resumed_from"].endswith("checkpoint-3")
    assert (resumed_dir / "checkpoints" / "checkpoint-5").is_dir()
    assert (resumed_dir / "vocab.txt").read_text(encoding="utf-8") == (pretrained / "vocab.txt").read_text(encoding="utf-8")

    args.update(max_steps=6, hidden_size=64)  # another model shape must not resume these checkpoints
    with pytest.raises(ValueError, match="another run"):
        pretrain(PretrainArguments(**args))


def test_finetuned_model_learns_the_obvious_characters(finetuned: Path) -> None:
    for name in ("config.json", "model.safetensors", "heads.json", "heads.safetensors", "tokenizer.json", "finetune_args.json", "README.md"):
        assert (finetuned / name).is_file(), name
    model = TransformerHeads.load(finetuned, backend="torch")
    assert model.heads == ["category", "topic"]
    assert list(model.classes_["topic"]) == ["劳动和社会保障", "环境保护"]
    assert list(model.classes_["category"]) == ["咨询", "投诉"]
    texts = [normalise(t) for t, _, _ in HELD_OUT]
    proba = model.predict_proba(texts, batch_size=5)
    for head, p in proba.items():
        assert p.shape == (len(texts), len(model.classes_[head]))
        np.testing.assert_allclose(p.sum(axis=1), 1.0, atol=1e-6)
    predicted = model.predict(texts)
    assert predicted["topic"] == [t for _, t, _ in HELD_OUT]
    assert predicted["category"] == [c for _, _, c in HELD_OUT]
    result = json.loads((finetuned / "finetune_result.json").read_text(encoding="utf-8"))
    assert result["eval"]["topic"]["accuracy"] == 1.0
    assert result["train_data"]["labels"]["category"] and sum(result["train_data"]["labels"]["category"].values()) == 27
    assert "macro-F1" in (finetuned / "README.md").read_text(encoding="utf-8")


def test_predict_proba_keeps_the_callers_order(finetuned: Path) -> None:
    model = TransformerHeads.load(finetuned, backend="torch")
    texts = ["想咨询一下，车站噪音很大晚上睡不着" * 2, "我要投诉，工资", "想咨询一下，楼下老板拖欠工资三个月"]
    together = model.predict_proba(texts, batch_size=2)
    for i, text in enumerate(texts):
        alone = model.predict_proba([text])
        for head in model.heads:
            np.testing.assert_allclose(together[head][i], alone[head][0], atol=1e-5)
    assert model.predict_proba([])["topic"].shape == (0, 2)


def test_base_model_from_a_saved_folder_and_the_no_hub_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import huggingface_hub.constants
    from transformers import BertConfig, BertModel

    base = tmp_path / "base"
    tokenizer = char_tokenizer(write_vocab(build_char_vocab(CORPUS), tmp_path / "vocab.txt"))
    BertModel(BertConfig(vocab_size=len(tokenizer), max_position_embeddings=64, **TINY)).save_pretrained(str(base))
    tokenizer.save_pretrained(str(base))
    texts = [t for t, _, _ in TRAIN[:12]]
    labels: dict[str, list[str | None]] = {"topic": [t for _, t, _ in TRAIN[:12]]}
    common = {"heads": ["topic"], "max_length": 32, "per_device_batch_size": 8, "epochs": 1, "save_steps": 1000}
    out = finetune(FinetuneArguments(base_model=str(base), output_dir=str(tmp_path / "ft"), **common), texts, labels, progress=False)
    assert TransformerHeads.load(out, backend="torch").heads == ["topic"]
    scratch = finetune(
        FinetuneArguments(base_model=str(base), output_dir=str(tmp_path / "scratch"), from_scratch=True, **common),
        texts,
        labels,
        progress=False,
    )
    assert json.loads((scratch / "heads.json").read_text(encoding="utf-8"))["from_scratch"] is True

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    args = FinetuneArguments(base_model="some-org/bert-not-here", output_dir=str(tmp_path / "hub"), **common)
    with pytest.raises(HubUnreachableError, match=r"no hub|HF_HUB_OFFLINE") as caught:
        finetune(args, texts, labels, progress=False)
    assert "local folder" in str(caught.value)


def test_onnx_export_matches_torch(finetuned: Path) -> None:
    texts = [normalise(t) for t, _, _ in HELD_OUT + TRAIN[:8]] + ["想咨询一下," + "车站噪音很大晚上睡不着" * 6]  # the last is cut at 32
    parity = export_onnx(finetuned, texts_for_check=texts)
    assert (finetuned / "model.onnx").is_file() and (finetuned / "model.int8.onnx").is_file()
    assert json.loads((finetuned / "onnx_parity.json").read_text(encoding="utf-8"))["heads"] == parity
    for head in ("category", "topic"):
        assert parity[head]["top1_agreement_fp32"] == 1.0
        assert parity[head]["max_abs_prob_diff_fp32"] < 1e-4
        assert set(parity[head]) >= {"top1_agreement_int8", "max_abs_prob_diff_int8", "mean_abs_prob_diff_int8"}

    torch_model = TransformerHeads.load(finetuned, backend="torch")
    onnx_model = TransformerHeads.load(finetuned, backend="onnx", onnx_file="model.onnx", threads=1)
    auto = TransformerHeads.load(finetuned)
    assert onnx_model.backend == "onnx" and auto.backend == "onnx" and torch_model.backend == "torch"
    expected = torch_model.predict_proba(texts)
    got = onnx_model.predict_proba(texts, batch_size=4)
    int8 = auto.predict_proba(texts)
    for head in torch_model.heads:
        np.testing.assert_allclose(got[head], expected[head], atol=1e-4)
        np.testing.assert_allclose(int8[head].sum(axis=1), 1.0, atol=1e-6)
        assert (int8[head].argmax(1) == expected[head].argmax(1)).mean() >= 0.9


def test_loading_an_incomplete_folder_names_the_missing_file(finetuned: Path, tmp_path: Path) -> None:
    broken = tmp_path / "broken"
    shutil.copytree(finetuned, broken)
    (broken / "heads.json").unlink()
    with pytest.raises(FileNotFoundError, match=r"heads\.json"):
        TransformerHeads.load(broken)
    with pytest.raises(FileNotFoundError, match="not found"):
        TransformerHeads.load(tmp_path / "nowhere")

    no_tokenizer = tmp_path / "no-tokenizer"
    shutil.copytree(finetuned, no_tokenizer)
    if not (no_tokenizer / "model.onnx").is_file():
        export_onnx(no_tokenizer, quantize=False)
    (no_tokenizer / "tokenizer.json").unlink()
    with pytest.raises(FileNotFoundError, match=r"tokenizer\.json"):
        TransformerHeads.load(no_tokenizer, backend="onnx")
    (no_tokenizer / "heads.safetensors").unlink()
    with pytest.raises(FileNotFoundError, match=r"heads\.safetensors"):
        TransformerHeads.load(no_tokenizer, backend="torch")


@pytest.mark.shared
def test_shared_pretraining_corpus_has_no_test_split() -> None:
    from training.transformer import UNLABELLED_DIR, is_in_domain, shared_corpus_files

    if not UNLABELLED_DIR.is_dir():
        pytest.skip("../shared/data/unlabelled_zh is not here")
    files = shared_corpus_files()
    names = [f"{p.parent.name}/{p.name}" for p in files]
    assert "tipdm2020c/train.jsonl" in names and "tipdm2020c_titles/train.jsonl" in names
    assert not any("test" in n or n.endswith("all.jsonl") for n in names)
    assert {p.name for p in files if is_in_domain(p) and p.parent == UNLABELLED_DIR} == {"gov_messages.txt.gz", "gov_replies.txt", "gov_titles.txt"}
