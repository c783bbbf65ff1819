"""`triage bench` on the project's own corpus, capped small: the product and its peers on one split."""

import json

from typer.testing import CliRunner

from training import cli
from training.peers import compare_peers, ratios

runner = CliRunner()


def test_bench_own_data_has_product_and_peer_rows():
    result = runner.invoke(cli.app, ["bench", "--data", "own", "--limit", "120"])
    assert result.exit_code == 0, result.output
    bench = json.loads(result.stdout)
    assert bench["data"] == "own" and bench["head"] == "topic"
    rows = {row["name"]: row for row in bench["systems"]}
    product = bench["systems"][0]
    assert product["name"].startswith("triage")
    assert product["n_train"] == 120
    for row in (product, rows["char-tfidf-linearsvc"]):
        assert 0 < row["macro_f1"] <= 1 and 0 < row["accuracy"] <= 1
        assert row["texts_per_s"] > 0 and row["train_seconds"] >= 0
        assert row["n_test"] == product["n_test"] > 0
    peer = rows["char-tfidf-linearsvc"]
    assert peer["ratio_vs_product"]["macro_f1"] == round(product["macro_f1"] / peer["macro_f1"], 3)
    fasttext = rows["fasttext"]
    if fasttext.get("unavailable"):
        assert "not available" in fasttext["unavailable"] and fasttext["macro_f1"] is None
    else:
        assert 0 <= fasttext["macro_f1"] <= 1 and fasttext["texts_per_s"] > 0
    assert "char-tfidf-linearsvc" in result.stderr  # the rich table


def test_compare_peers_without_product_and_ratio_edge_cases():
    train = ["小区停水三天了", "路灯坏了不亮", "楼上漏水到我家", "马路上路灯全黑", "自来水管爆了", "路灯闪个不停"] * 3
    labels = ["水", "灯", "水", "灯", "水", "灯"] * 3
    rows = compare_peers(train, labels, ["家里停水了", "路灯不亮"], ["水", "灯"], repeats=1)
    assert [r["name"] for r in rows][:2] == ["char-tfidf-linearsvc", "fasttext"]
    assert rows[0]["accuracy"] == 1.0 and "ratio_vs_product" not in rows[0]
    assert ratios({"macro_f1": 0.5}, {"macro_f1": None})["macro_f1"] is None
