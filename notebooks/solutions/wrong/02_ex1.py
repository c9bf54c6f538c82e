# A plausible mistake: the last k at which the mean is still at or below 0.75 (off by one).
malignant = np.flatnonzero(x == 0)
answer_1 = max(k for k in range(1, len(malignant) + 1)
               if bb.perturb(malignant[:k], weight=0.0).mean_ <= 0.75)
