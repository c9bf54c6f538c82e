def half_share(s):
    """The smallest share of images that together carry half of the total sensitivity."""
    s = np.sort(s)[::-1]                                   # most sensitive first
    return (np.searchsorted(np.cumsum(s), 0.5 * s.sum()) + 1) / len(s)

answer_3 = (half_share(sgd_hist[0]["sensitivities"]), half_share(sgd_hist[-1]["sensitivities"]))
