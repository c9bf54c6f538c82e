# A plausible mistake: the first-order form V_i e_i, without the factor (I − Λ_i V_i)⁻¹
V = s_soft.variances_[sample]
e = s_soft.errors_[sample]
answer_1 = (V @ e[..., None])[..., 0]
