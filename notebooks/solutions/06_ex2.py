# Predict with the MPE instead of by eye: the candidate whose own prediction the finite form says
# moves most when it is removed — its sensitivity at SGD's last checkpoint.
mpe_sensitivity = sgd_hist[-1]["sensitivities"][candidates]
answer_2 = "ABCD"[int(np.argmax(mpe_sensitivity))]
