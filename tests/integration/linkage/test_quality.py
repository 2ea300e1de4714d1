"""Quality measures against a brute-force count of pairs."""

from __future__ import annotations

from itertools import combinations

from hypothesis import given
from hypothesis import strategies as st

from integration.linkage.quality import measure

labels = st.lists(st.tuples(st.integers(0, 6), st.integers(0, 6)), min_size=1, max_size=40)


@given(labels)
def test_pair_counts_match_brute_force(pairs: list[tuple[int, int]]) -> None:
    predicted = [p for p, _ in pairs]
    truth = [t for _, t in pairs]
    quality = measure(predicted, truth)
    brute_predicted = {
        (i, j) for i, j in combinations(range(len(pairs)), 2) if predicted[i] == predicted[j]
    }
    brute_true = {(i, j) for i, j in combinations(range(len(pairs)), 2) if truth[i] == truth[j]}
    assert quality.predicted_pairs == len(brute_predicted)
    assert quality.true_pairs == len(brute_true)
    assert quality.true_positive_pairs == len(brute_predicted & brute_true)
    assert quality.true_persons == len(set(truth))
    assert quality.predicted_persons == len(set(predicted))
    exact = sum(
        1
        for t in set(truth)
        if {i for i in range(len(truth)) if truth[i] == t}
        in [{i for i in range(len(predicted)) if predicted[i] == p} for p in set(predicted)]
    )
    assert quality.persons_exact == exact
    assert 0.0 <= quality.f1 <= 1.0


def test_perfect_linkage_scores_one_and_errors_are_attributed_to_noise() -> None:
    perfect = measure([1, 1, 2, 3, 3], ["a", "a", "b", "c", "c"])
    assert (perfect.precision, perfect.recall, perfect.f1) == (1.0, 1.0, 1.0)
    assert perfect.persons_exact == 3
    flawed = measure(
        [1, 1, 5, 2, 2, 2],
        ["a", "a", "a", "b", "b", "c"],
        ["", "", "typo", "", "", "nickname;missing_national_id"],
    )
    assert flawed.persons_split == 1 and flawed.persons_merged == 1
    assert flawed.errors_by_noise == {
        "split_off": {"typo": 1},
        "merged_in": {"missing_national_id": 1, "nickname": 1},
    }
    assert flawed.recall == 2 / 4 and flawed.precision == 2 / 4
