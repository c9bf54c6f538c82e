# Exercise 3: Δθ_i = S⁻¹ φ_i e_i / (1 − Λ_i v_i) for every example of model0 (δ = 0)
S = model0.precision_matrix()            # Σ_j Λ_j φ_j φ_jᵀ (+ δI, here δ = 0)
Phi = sens0.jacobians_[:, 0, :]          # (n, 3): the rows φ_iᵀ
S_inv_phi = np.linalg.solve(S, Phi.T).T  # (n, 3): row i is S⁻¹ φ_i
e = sens0.errors_[:, 0]
v = sens0.variances_[:, 0, 0]
lam = sens0.curvatures_[:, 0, 0]
answer_3 = S_inv_phi * (e / (1 - lam * v))[:, None]
