# A plausible mistake: the one-output formula v e / (1 − Λ v) applied to each output on its own,
# which drops the off-diagonal entries of V_i and Λ_i
V_diag = np.einsum("nkk->nk", sens3.variances_)
Lam_diag = np.einsum("nkk->nk", sens3.curvatures_)
answer_1 = V_diag * sens3.errors_ / (1 - Lam_diag * V_diag)
