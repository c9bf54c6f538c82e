# Exercise 1: the leave-one-out mean squared error from the finite form, without retraining
f = sens.outputs_[:, 0]              # f_i, the fitted values
e = sens.errors_[:, 0]               # e_i = f_i − y_i
v = sens.variances_[:, 0, 0]         # v_i = φ_iᵀ S⁻¹ φ_i (the leverage h_ii here)
lam = sens.curvatures_[:, 0, 0]      # Λ_i = 1 for the squared loss with σ² = 1
f_loo = f + v * e / (1 - lam * v)    # f_i^{\i}: each example's fitted value without it
answer_1 = float(np.mean((data.y_train - f_loo) ** 2))
