"""experiments.find_mislabelled: planted label noise and the rankings that look for it.

Every expected value has its own reason: the flips are read off the labels themselves,
precision@k is recounted with Python sets, the exact LOO column is recomputed by fitting a fresh
model on the data without the row, and the random baseline is compared with its known mean
(the noise rate)."""
import numpy as np
import pytest

from mpe_teach import LinearRegression, LogisticRegression, SoftmaxRegression, datasets
from mpe_teach.experiments import RANKINGS, find_mislabelled, plant_label_noise, precision_at_k


def sigmoid(f):
    return 1.0 / (1.0 + np.exp(-f))


def precision_by_sets(scores, flipped, k):
    """Fraction of flipped rows among the k largest scores (ties by row index), by hand."""
    top = sorted(range(len(scores)), key=lambda i: (-scores[i], i))[:k]
    return len(set(top) & set(np.flatnonzero(flipped).tolist())) / k


@pytest.fixture(scope="module")
def cancer():
    """breast cancer, 5% of the labels flipped (seed 0), every ranking including the refits."""
    return find_mislabelled("breast_cancer", noise_rate=0.05, seed=0, ks=(5, 10, 20),
                            n_boot=200, progress=False)


# ---- planting the noise ------------------------------------------------------------------------
@pytest.mark.parametrize("y", [datasets.digits(n_train=200).y_train,
                               datasets.breast_cancer().y_train,
                               np.array(["cat", "dog", "owl"] * 30)])
def test_planted_flips_are_exactly_the_changed_labels(y):
    y_noisy, flipped = plant_label_noise(y, 0.1, seed=3)
    assert flipped.dtype == bool and flipped.shape == y.shape
    np.testing.assert_array_equal(flipped, y_noisy != y)
    assert flipped.sum() == round(0.1 * len(y))
    assert set(np.unique(y_noisy)) <= set(np.unique(y))           # only labels that exist
    again, flipped_again = plant_label_noise(y, 0.1, seed=3)
    np.testing.assert_array_equal(again, y_noisy)                  # deterministic for a seed
    assert not np.array_equal(plant_label_noise(y, 0.1, seed=4)[1], flipped)
    assert not plant_label_noise(y, 0.0, seed=3)[1].any()


def test_a_flip_goes_to_each_other_class_equally_often():
    y = np.repeat(np.arange(10), 300)                              # 3000 labels, all flipped
    y_noisy, flipped = plant_label_noise(y, 1.0, seed=0)
    assert flipped.all()
    shift = (y_noisy - y) % 10                                     # 1..9 steps round the classes
    counts = np.bincount(shift, minlength=10)
    assert counts[0] == 0
    # 3000 draws over 9 classes: 333 expected each, binomial sd ≈ 17
    assert np.all(np.abs(counts[1:] - 3000 / 9) < 5 * 17)


def test_bad_inputs_are_refused():
    with pytest.raises(ValueError, match="n_train"):
        find_mislabelled("breast_cancer", n_train=100, exact=False)
    with pytest.raises(ValueError, match="regression"):
        find_mislabelled("regression_1d", exact=False)
    with pytest.raises(ValueError, match="k must be"):
        find_mislabelled("breast_cancer", ks=(5, 10_000), exact=False)
    with pytest.raises(ValueError, match="classifier"):
        find_mislabelled("breast_cancer", model=LinearRegression(), exact=False)
    with pytest.raises(ValueError, match="noise_rate"):
        plant_label_noise(np.array([0, 1, 0, 1]), 1.5)


# ---- what the result says ----------------------------------------------------------------------
def test_the_model_was_fitted_to_the_noisy_labels(cancer):
    clean = datasets.breast_cancer().y_train
    np.testing.assert_array_equal(cancer["y_clean"], clean)
    np.testing.assert_array_equal(cancer["flipped"], cancer["y_given"] != clean)
    assert cancer["n_flipped"] == 20 == cancer["flipped"].sum()    # round(0.05 · 398)
    model = cancer["model"]
    np.testing.assert_array_equal(model.classes_[model.y_], cancer["y_given"])
    np.testing.assert_array_equal(cancer["y_pred"], model.predict(cancer["X"]))


def test_the_table_counts_the_flips_in_each_top_k(cancer):
    table = cancer["table"]
    assert list(table["ranking"].unique()) == list(RANKINGS)
    for _, row in table.iterrows():
        expected = precision_by_sets(cancer["scores"][row["ranking"]], cancer["flipped"], row["k"])
        assert row["precision"] == pytest.approx(expected, abs=1e-12)
        assert 0.0 <= row["low"] <= row["high"] <= 1.0
    for name, top in cancer["top"].items():      # the listed rows are that ranking's first rows
        k = len(top)
        assert top["flipped"].mean() == pytest.approx(
            precision_by_sets(cancer["scores"][name], cancer["flipped"], k))
        np.testing.assert_array_equal(top["flipped"], top["given"] != top["clean"])


def test_precision_at_k_matches_a_count_by_hand():
    rng = np.random.default_rng(1)
    scores, flipped = rng.normal(size=50), rng.random(50) < 0.2
    ks = [1, 3, 10, 50]
    expected = [precision_by_sets(scores, flipped, k) for k in ks]
    np.testing.assert_allclose(precision_at_k(scores, flipped, ks), expected)
    assert precision_at_k(scores, flipped, [50])[0] == pytest.approx(flipped.mean())


def test_exact_loo_comes_from_real_refits(cancer):
    """The "exact LOO" score of a row equals Σ_c|Δp_c| = 2|σ(f_i^{\\i}) − σ(f_i)| with f_i^{\\i}
    from a model fitted from scratch without that row, and from model.refit with its weight 0."""
    X, y_given, model = cancer["X"], cancer["y_given"], cancer["model"]
    exact = cancer["scores"]["exact LOO"]
    f = model.decision_function(X)
    for i in (int(np.nanargmax(exact)), int(np.flatnonzero(cancer["flipped"])[0])):
        fresh = LogisticRegression(delta=1.0).fit(np.delete(X, i, axis=0), np.delete(y_given, i))
        f_loo = fresh.decision_function(X[i:i + 1])[0]          # logit of class 1 at x_i
        by_hand = 2 * abs(sigmoid(f_loo) - sigmoid(f[i]))
        assert exact[i] == pytest.approx(by_hand, rel=1e-6)
        w = np.ones(len(y_given))
        w[i] = 0.0
        refit = model.refit(w)
        f_refit = refit.decision_function(X[i:i + 1])[0]
        assert exact[i] == pytest.approx(2 * abs(sigmoid(f_refit) - sigmoid(f[i])), rel=1e-6)
    assert cancer["n_failed"] == 0
    # the exact column is not the MPE's estimate copied: they differ, though they rank alike
    assert not np.allclose(exact, cancer["scores"]["sensitivity"], rtol=1e-6, atol=0)
    top_exact = set(np.argsort(-exact)[:10])
    top_mpe = set(np.argsort(-cancer["scores"]["sensitivity"])[:10])
    assert len(top_exact & top_mpe) >= 8


# ---- the rankings as detectors -----------------------------------------------------------------
def test_random_ranking_finds_flips_at_the_noise_rate():
    """A random order's top k holds a hypergeometric number of flips, mean k·m/n: averaged over
    200 seeds (each a new set of flips and a new order) precision@k is m/n within sampling error
    (sd of the mean ≈ 0.005 at k = 10)."""
    prec = np.array([find_mislabelled("breast_cancer", seed=s, ks=(10, 20), exact=False,
                                      n_boot=1, progress=False)["precision"]["random"]
                     for s in range(200)])
    assert prec.mean(axis=0) == pytest.approx([20 / 398] * 2, abs=0.02)


def test_sensitivity_ranking_beats_random_on_breast_cancer():
    """On breast cancer with 5% flipped labels the flips the model absorbs or leaves near the
    boundary move their own prediction most when removed: averaged over 20 seeds the sensitivity's
    precision@10 is at least three times the noise rate (random's mean)."""
    prec = np.array([find_mislabelled("breast_cancer", seed=s, ks=(10,), exact=False, n_boot=1,
                                      progress=False)["precision"]["sensitivity"][0]
                     for s in range(20)])
    assert prec.mean() >= 3 * 0.05


def test_digits_and_given_arrays(wine):
    d = find_mislabelled("digits", n_train=100, noise_rate=0.1, ks=(5,), exact=False, n_boot=10,
                         progress=False)
    assert d["n"] == 100 and d["n_flipped"] == 10 and d["images"].shape == (100, 8, 8)
    assert isinstance(d["model"], SoftmaxRegression)
    assert list(d["table"]["ranking"]) == [r for r in RANKINGS if r != "exact LOO"]
    X, y = wine
    w = find_mislabelled((X, y), noise_rate=0.1, ks=(5,), n_boot=10, progress=False)
    np.testing.assert_array_equal(w["flipped"], w["y_given"] != y)
    assert w["images"] is None and w["n_failed"] == 0
