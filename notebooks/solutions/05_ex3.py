# Exercise 3: the diagonal precision by hand, the first-order form, and the correlation with refits
J = s_mlp.jacobians_                                              # (n, 10, P)
s_diag = np.einsum("nkp,nkl,nlp->p", J, s_mlp.curvatures_, J) + mlp.delta   # diagonal of S (P,)
J_m = J[sample_mlp]
V = np.einsum("mkp,p,mlp->mkl", J_m, 1 / s_diag, J_m)             # V_i ≈ J_i diag(1/s) J_iᵀ
df = np.einsum("mkl,ml->mk", V, s_mlp.errors_[sample_mlp])        # first order: Δf_i = V_i e_i
f = s_mlp.outputs_[sample_mlp]
yours = np.abs(softmax(f + df, axis=1) - softmax(f, axis=1)).sum(axis=1)   # Σ_c |Δp_ic|
answer_3 = np.corrcoef(yours, true_mlp)[0, 1]
