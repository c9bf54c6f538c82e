# Exercise 1: the finite form Δf_i = V_i (I − Λ_i V_i)⁻¹ e_i for every image in sample
V = s_soft.variances_[sample]        # (m, 10, 10): V_i = J_i S⁻¹ J_iᵀ
Lam = s_soft.curvatures_[sample]     # (m, 10, 10): Λ_i = diag(p_i) − p_i p_iᵀ
e = s_soft.errors_[sample]           # (m, 10): e_i = p_i − onehot(y_i)
x = np.linalg.solve(np.eye(10) - Lam @ V, e[..., None])   # (I − Λ_i V_i)⁻¹ e_i, as (m, 10, 1)
answer_1 = (V @ x)[..., 0]           # (m, 10)
