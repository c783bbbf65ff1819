"""Out-of-fold predictions and what is chosen on them: each row scored by heads that never saw it."""

from __future__ import annotations

import numpy as np
import pytest

from training.crossval import assign_folds, fit_with_out_of_fold
from training.tuning import MIN_REGISTER_ROWS, choose_auto_thresholds, is_acceptable
from triage.classifiers import MultiHeadClassifier
from triage.schemas import Suggestion
from triage.suggest import choose_threshold
from triage.units import default_catalogue


def test_folds_are_deterministic_and_keep_reposts_together() -> None:
    texts = ["小区门口天天占道经营路都堵死了" * 3 + f"第{i}次" for i in range(4)] + [f"公积金提取问题{i}" for i in range(40)]
    folds = assign_folds(texts, 5, seed=0)
    assert folds.tolist() == assign_folds(texts, 5, seed=0).tolist()
    assert len(set(folds[:4].tolist())) == 1  # same first 40 characters: one group, one fold
    assert set(folds.tolist()) == set(range(5))
    with pytest.raises(ValueError, match="at least 2 folds"):
        assign_folds(texts, 1, seed=0)


def test_out_of_fold_scores_never_see_their_own_label() -> None:
    """Labels drawn at random from the text: heads fitted on every row recall them, out-of-fold ones cannot."""
    rng = np.random.default_rng(0)
    texts = [f"编号{i}的来电内容{rng.integers(10**6)}" for i in range(300)]
    labels = {"category": [str(rng.choice(["投诉", "咨询"])) for _ in texts], "topic": [str(rng.choice(["城乡建设", "交通运输"])) for _ in texts]}
    always = np.zeros(len(texts), dtype=bool)
    always[:20] = True
    final, oof, X = fit_with_out_of_fold(MultiHeadClassifier(), texts, labels, k=5, seed=0, always=always)
    assert oof is not None and X.shape[0] == len(texts)
    truth = np.array(labels["category"])
    margins = final.margins(X)["category"][:, 0]  # two classes: one margin, for the second
    in_sample = final.classes_["category"][(margins > 0).astype(int)]
    held = oof.proba["category"][20:]
    out_of_fold = oof.classes["category"][held.argmax(axis=1)]
    assert (in_sample == truth).mean() > 0.9
    assert abs((out_of_fold == truth[20:]).mean() - 0.5) < 0.12  # chance: nothing leaked
    assert np.isnan(oof.proba["category"][:20]).all() and not oof.scored("category")[:20].any()  # always trained, never scored
    assert np.allclose(held.sum(axis=1), 1.0)
    # calibrated on out-of-fold margins, the final head's probabilities say what it knows of unseen calls: nothing
    assert np.abs(final.predict_proba_features(X)["category"] - 0.5).max() < 0.2


def test_a_threshold_must_hold_at_the_low_end_of_its_interval_and_in_every_register() -> None:
    scores = [0.99] * 100 + [0.9] * 100
    correct = [True] * 100 + [True] * 93 + [False] * 7  # 96.5% at 0.9 and above
    assert choose_threshold(scores, correct, 0.95) == 0.9
    assert choose_threshold(scores, correct, 0.95, z=1.28) == 0.99  # 193 of 200 is not surely above 95%
    assert choose_threshold([0.8, 0.8], [True, False], 0.9) == 1.01  # a tie is one cut: both or neither
    # a gated row (a possible emergency's acceptance) counts against coverage but is never the threshold, even
    # when every row would reach the target: the threshold stays where the gate still holds
    assert choose_threshold([0.9, 0.6, -1.0], [True, True, True], 0.9) == 0.6


def test_auto_thresholds_are_chosen_per_register_and_say_what_they_measured(pipeline) -> None:
    catalogue = default_catalogue()
    calls = [pipeline.suggest("开福区伍家岭那边有个小区门口天天占道经营，路都堵死了") for _ in range(40)]
    letters = [pipeline.suggest("我想问一下住房公积金怎么提取出来付首付") for _ in range(40)]
    good = [{"category": s.category.label, "scope": "accepted", "units": (s.units[0].name,)} for s in calls + letters]
    wrong_letters = [{"category": "其他", "scope": "accepted", "units": ("市林业局",)} for _ in letters]
    one = choose_auto_thresholds(calls + letters, good, ["calls"] * 40 + ["messages"] * 40, catalogue)
    two = choose_auto_thresholds(calls + letters, good[:40] + wrong_letters, ["calls"] * 40 + ["messages"] * 40, catalogue)
    assert one.unit <= calls[0].units[0].score
    assert two.unit > 1.0  # a register that is never right keeps the field from ever being auto
    assert two.measured["unit"]["by_source"]["calls"]["precision"] is None
    assert one.measured["unit"]["by_source"]["messages"]["n"] == 40
    assert one.by_register == {} and two.by_register == {}  # 40 rows are too few for a register's own thresholds


def test_a_register_with_enough_rows_is_not_held_back_by_the_other(pipeline) -> None:
    """Calls always right and letters always wrong: pooled, nothing is auto; per register, the calls' unit is."""
    n = MIN_REGISTER_ROWS
    call = pipeline.suggest("开福区伍家岭那边有个小区门口天天占道经营，路都堵死了")
    right = {"category": call.category.label, "scope": "accepted", "units": (call.units[0].name,)}
    wrong = {"category": "其他", "scope": "accepted", "units": ("市林业局",)}
    chosen = choose_auto_thresholds([call] * (2 * n), [right] * n + [wrong] * n, ["calls"] * n + ["messages"] * n, default_catalogue())
    assert chosen.unit > 1.0  # pooled: the letters' register keeps the field from ever being auto
    assert chosen.by_register["spoken"]["unit"] <= call.units[0].score < chosen.by_register["written"]["unit"]
    assert chosen.for_register("spoken").unit <= call.units[0].score < chosen.for_register("written").unit


def test_a_local_unit_answers_a_local_label() -> None:
    catalogue = default_catalogue()
    assert is_acceptable("开福区", ("属地", "市城管局"), catalogue)
    assert not is_acceptable("开福区", ("雨花区", "市城管局"), catalogue)
    assert not is_acceptable("市林业局", ("属地",), catalogue)


def test_a_fold_keeps_only_the_features_its_own_rows_hold_min_df_times() -> None:
    """A word that one training call and one held-out call share is kept by a vocabulary fitted on both (df 2),
    but a later call meets a model whose vocabulary never counted it twice: out of fold it must not link them."""
    import scipy.sparse as sp

    from training.crossval import _fold_margins

    n = 40
    X = np.zeros((n, 3))
    X[:20, 0] = X[20:, 1] = 1.0  # one word per class
    X[0, 2] = X[39, 2] = 5.0  # a rare word shared by a training row of the first class and a held-out row of the second
    labels = {"category": ["投诉"] * 20 + ["咨询"] * 20}
    rows, held = np.arange(35), np.arange(35, 40)
    linked, _ = _fold_margins(MultiHeadClassifier(), sp.csr_matrix(X), labels, None, rows, held, 1)
    alone, _ = _fold_margins(MultiHeadClassifier(), sp.csr_matrix(X), labels, None, rows, held, 2)
    assert not np.allclose(linked["category"][1][-1], linked["category"][1][-2])  # with min_df 1 the word counts ...
    assert np.allclose(alone["category"][1][-1], alone["category"][1][-2])  # ... with min_df 2 the fold drops it


def test_a_register_no_tuned_row_was_of_gets_thresholds_aimed_higher(pipeline) -> None:
    """Tuned on calls alone, the heads' confidence on a letter was never measured: its category and unit are auto
    only where the calls show precision 0.98, not the usual target."""
    from training.tuning import UNMEASURED_TARGET
    from triage.suggest import apply_thresholds

    call = pipeline.suggest("开福区伍家岭那边有个小区门口天天占道经营，路都堵死了")
    top = call.units[0]

    def scored(score: float) -> Suggestion:
        return call.model_copy(update={"units": [top.model_copy(update={"score": score}), *call.units[1:]]})

    # 200 calls between 0.5 and 0.9, one in ten sent to the wrong unit; 300 above 0.9, all right
    suggestions = [scored(0.5 + i * 0.002) for i in range(200)] + [scored(0.9 + i * 0.0003) for i in range(300)]
    right = {"category": call.category.label, "scope": "accepted", "units": (top.name,)}
    wrong = {**right, "units": ("市林业局",)}
    gold = [wrong if i < 200 and i % 10 == 0 else right for i in range(500)]
    chosen = choose_auto_thresholds(suggestions, gold, ["calls"] * 500, default_catalogue())
    spoken, written = chosen.for_register("spoken"), chosen.for_register("written")
    assert spoken.unit < written.unit <= 0.9 and spoken.category <= written.category
    aimed = chosen.measured["unmeasured_registers"]["written"]["unit"]
    assert aimed["target_precision"] == UNMEASURED_TARGET and aimed["precision"] >= UNMEASURED_TARGET
    between = scored((spoken.unit + written.unit) / 2)
    assert apply_thresholds(between, chosen).auto.unit
    letter = apply_thresholds(between.model_copy(update={"register_": "written"}), chosen)
    assert not letter.auto.unit and "unit置信度低" in letter.review_reasons
    # a register with rows of its own keeps what they show (the full preset's letters)
    both = choose_auto_thresholds(suggestions, gold, ["calls"] * 250 + ["messages"] * 250, default_catalogue())
    assert "unmeasured_registers" not in both.measured


def test_the_default_model_card_says_its_letters_are_decided_by_stricter_thresholds(default_bundle, pipeline) -> None:
    card = (default_bundle / "README.md").read_text(encoding="utf-8")
    assert "No row the thresholds were chosen on was written text" in card and "gives it thresholds of its own" in card
    written, spoken = pipeline.thresholds.for_register("written"), pipeline.thresholds.for_register("spoken")
    assert written.unit > spoken.unit and written.category > spoken.category and written.scope == spoken.scope
