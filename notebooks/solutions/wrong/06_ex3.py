def half_share(s):
    s = np.sort(s)                                         # a mistake: least sensitive first
    return (np.searchsorted(np.cumsum(s), 0.5 * s.sum()) + 1) / len(s)

answer_3 = (half_share(sgd_hist[0]["sensitivities"]), half_share(sgd_hist[-1]["sensitivities"]))
