from scipy.linalg import block_diag

J_M = s_soft.jacobians_[pair].reshape(-1, s_soft.jacobians_.shape[2])   # (20, P): both members stacked
V_MM = J_M @ s_soft.precision_.solve(J_M.T)                             # variances AND cross variances
Lam_M = block_diag(*s_soft.curvatures_[pair])                           # (20, 20), block diagonal
e_M = s_soft.errors_[pair].ravel()                                      # (20,)
answer_3 = (V_MM @ np.linalg.solve(np.eye(len(e_M)) - Lam_M @ V_MM, e_M)).reshape(len(pair), -1)
