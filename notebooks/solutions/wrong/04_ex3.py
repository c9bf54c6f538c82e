# A plausible mistake: the first-order form S⁻¹ φ_i e_i (the influence function), without the
# factor 1 / (1 − Λ_i v_i)
S = model0.precision_matrix()
Phi = sens0.jacobians_[:, 0, :]
answer_3 = np.linalg.solve(S, Phi.T).T * sens0.errors_[:, 0][:, None]
