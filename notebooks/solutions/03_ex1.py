# Exercise 1: Δf_i = V_i (I − Λ_i V_i)⁻¹ e_i for every example, with 3 × 3 matrices
V_3 = sens3.variances_                   # (90, 3, 3): V_i = J_i S⁻¹ J_iᵀ
Lam_3 = sens3.curvatures_                # (90, 3, 3): Λ_i = diag(p_i) − p_i p_iᵀ
e_3 = sens3.errors_                      # (90, 3):    e_i = p_i − onehot(y_i)
z = np.linalg.solve(np.eye(3) - Lam_3 @ V_3, e_3[..., None])   # (I − Λ_iV_i)⁻¹ e_i, (90, 3, 1)
answer_1 = (V_3 @ z)[..., 0]             # Δf_i = V_i z_i, (90, 3)
