# A plausible mistake: each member's own V_i only, no cross variances — two single removals.
V, Lam, e = s_soft.variances_[pair], s_soft.curvatures_[pair], s_soft.errors_[pair]
answer_3 = np.einsum("mkl,ml->mk", V, np.linalg.solve(np.eye(10) - Lam @ V, e[:, :, None])[:, :, 0])
