# A plausible mistake: the first-order form Δf_i = V_i e_i where the finite form is asked.
f_loo = s_soft.outputs_ + np.einsum("nkl,nl->nk", s_soft.variances_, s_soft.errors_)
answer_1 = float(np.mean(np.log(np.exp(f_loo).sum(axis=1)) - f_loo[np.arange(n), y]))
