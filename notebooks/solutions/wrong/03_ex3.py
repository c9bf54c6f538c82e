# A plausible mistake: two single removals, each with its own v_j e_j / (1 − Λ_j v_j), which leave
# out the covariance of the two predictions (the off-diagonal entries of V_MM)
members = [2, 10]
v_M = sens.variances_[members, 0, 0]
answer_3 = v_M * sens.errors_[members, 0] / (1 - sens.curvatures_[members, 0, 0] * v_M)
