# Remove the first k malignant tumours with the MPE, for k = 1, 2, 3, ..., until the mean passes 0.75.
malignant = np.flatnonzero(x == 0)
answer_1 = next(k for k in range(1, len(malignant) + 1)
                if bb.perturb(malignant[:k], weight=0.0).mean_ > 0.75)
