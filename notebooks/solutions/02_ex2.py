# Every observation has the same prediction variance v = 1/S here (the model predicts the same μ
# for all of them), so only the error e_i = (m − y_i)/σ² differs: the observation farthest from the
# posterior mean moves it most when removed. That is the smallest y, not the line's outlier.
answer_2 = int(np.argmax(np.abs(y - gm.mean_)))
