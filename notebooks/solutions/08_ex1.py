# Exercise 1: the sensitivity from the error, the variance and the curvature (binary: one output)
f = sens_bc.outputs_[:, 0]            # f_i, the logit
e = sens_bc.errors_[:, 0]             # e_i = σ(f_i) − y_i
v = sens_bc.variances_[:, 0, 0]       # v_i = J_i S⁻¹ J_iᵀ
lam = sens_bc.curvatures_[:, 0, 0]    # Λ_i = σ(f_i)(1 − σ(f_i))
d_f = v * e / (1 - lam * v)           # the finite form: the logit's change when i is removed
sigmoid = lambda z: 1 / (1 + np.exp(-z))  # noqa: E731
answer_1 = 2 * np.abs(sigmoid(f + d_f) - sigmoid(f))   # Σ_c |Δp_c| over the two classes
