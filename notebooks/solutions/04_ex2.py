# Exercise 2: Δp_i for removing each point, from the finite form
f = sens.outputs_[:, 0]                  # f_i = φ_iᵀ θ*
e = sens.errors_[:, 0]                   # e_i = p_i − y_i
v = sens.variances_[:, 0, 0]             # v_i = φ_iᵀ S⁻¹ φ_i
lam = sens.curvatures_[:, 0, 0]          # Λ_i = p_i (1 − p_i)
delta_f = v * e / (1 - lam * v)          # Δf_i, finite form, Δw = −1
answer_2 = expit(f + delta_f) - expit(f)
