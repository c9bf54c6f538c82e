# The finite form with Δw = +1 (duplication), for all 30 examples at once.
dw = 1.0
e_i = sens.errors_[:, 0]             # prediction errors f_i − y_i, (30,)
v_i = sens.variances_[:, 0, 0]       # prediction variances J_i S⁻¹ J_iᵀ, (30,)
lam_i = sens.curvatures_[:, 0, 0]    # curvatures, 1 for the squared loss, (30,)
answer_2 = -dw * v_i * e_i / (1 + dw * lam_i * v_i)
