# Exercise 2: "finite". With the exact precision, S − H_86 = δI + Σ_{j≠86} H_j is positive definite,
# so h = 0.758 < 1 and 1/(1 − h) = 4.13 is no artefact: it is the bend of the refit (Step 4, one
# Newton step on the loss without example 86). Retraining moves f_86 by 3.676: the finite form
# (3.588) is 2.4% off, the first-order form (0.869) 76%.
answer_2 = "finite"
