# A plausible mistake: the first-order form f_i + v_i e_i, without the factor 1 / (1 − Λ_i v_i)
f = sens.outputs_[:, 0]
e = sens.errors_[:, 0]
v = sens.variances_[:, 0, 0]
f_loo = f + v * e
answer_1 = float(np.mean((data.y_train - f_loo) ** 2))
