# A plausible mistake: add up the five single removals (drops the covariances between members)
S = model.precision_matrix()
answer_3 = np.zeros(P)
for j in M:
    phi_j, e_j = sens.jacobians_[j, 0, :], sens.errors_[j, 0]
    v_j = phi_j @ np.linalg.solve(S, phi_j)
    answer_3 = answer_3 + np.linalg.solve(S, phi_j) * e_j / (1 - v_j)
