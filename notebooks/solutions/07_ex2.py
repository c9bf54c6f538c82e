# Predict from the training data alone: the δ of the grid with the smallest MPE LOO estimate
# (one fit per δ, no retraining per example, no test data).
loo_estimates = [Sensitivity(SoftmaxRegression(delta=d).fit(X, y)).loo_loss() for d in grid]
answer_2 = float(grid[int(np.argmin(loo_estimates))])
