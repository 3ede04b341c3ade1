from growpilot.retrieval.fusion import rrf


def test_item_in_both_rankings_wins():
    fused = rrf([["a", "b", "c"], ["c", "d"]], k=60)
    assert fused[0][0] == "c"
    assert abs(fused[0][1] - (1 / 63 + 1 / 61)) < 1e-12


def test_order_within_one_ranking_is_kept():
    assert [x for x, _ in rrf([["x", "y", "z"]])] == ["x", "y", "z"]


def test_empty():
    assert rrf([[], []]) == []
