# A plausible mistake: the first-order form Δf_i ≈ v_i e_i (the influence function), where the
# finite form v_i e_i / (1 − Λ_i v_i) is asked for.
f = sens_bc.outputs_[:, 0]
e = sens_bc.errors_[:, 0]
v = sens_bc.variances_[:, 0, 0]
d_f = v * e
sigmoid = lambda z: 1 / (1 + np.exp(-z))  # noqa: E731
answer_1 = 2 * np.abs(sigmoid(f + d_f) - sigmoid(f))
