# A plausible mistake: only the first part of the memories subtracted; S kept as it was.
idx = [11, 15]
phi = np.column_stack([np.ones(len(idx)), line.X_train[idx, 0]])
eta1 = blr.eta1_ - phi.T @ line.y_train[idx] / blr.noise_var
answer_3 = np.linalg.solve(-2 * blr.eta2_, eta1)
