# Exercise 3: the group form, all five members of M removed together (Λ_M = I here)
S = model.precision_matrix()                 # Σ_j φ_j φ_jᵀ + δI
Phi_M = sens.jacobians_[M, 0, :]             # (5, P): the members' rows φ_jᵀ
e_M = sens.errors_[M, 0]                     # (5,): their errors
S_inv_PhiT = np.linalg.solve(S, Phi_M.T)     # S⁻¹ Φ_Mᵀ (P, 5)
V_MM = Phi_M @ S_inv_PhiT                    # (5, 5): variances on the diagonal, covariances off it
answer_3 = S_inv_PhiT @ np.linalg.solve(np.eye(len(M)) - V_MM, e_M)
