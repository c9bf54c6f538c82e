# A plausible mistake: the first-order form (no denominator) where the finite form is asked.
dw = 1.0
e_i = sens.errors_[:, 0]
v_i = sens.variances_[:, 0, 0]
answer_2 = -dw * v_i * e_i
