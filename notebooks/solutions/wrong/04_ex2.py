# A plausible mistake: the first-order form Δf_i = v_i e_i where the finite form is asked
f = sens.outputs_[:, 0]
e = sens.errors_[:, 0]
v = sens.variances_[:, 0, 0]
answer_2 = expit(f + v * e) - expit(f)
