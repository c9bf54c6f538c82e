# Exercise 3: examples 2 and 10 removed together, Δf_M = V_MM (I − Λ_M V_MM)⁻¹ e_M
members = [2, 10]
S_full = model.precision_matrix()                          # P × P
Phi_M = sens.jacobians_[members, 0, :]                     # (2, P): the rows φ_2ᵀ and φ_10ᵀ
V_MM = Phi_M @ np.linalg.solve(S_full, Phi_M.T)            # 2 × 2: variances, and their covariance
Lam_M = np.diag(sens.curvatures_[members, 0, 0])           # 2 × 2, diagonal
e_M = sens.errors_[members, 0]                             # (2,)
answer_3 = V_MM @ np.linalg.solve(np.eye(2) - Lam_M @ V_MM, e_M)
