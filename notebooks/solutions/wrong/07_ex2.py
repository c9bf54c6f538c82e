# A plausible mistake: keep the δ = 1 the softmax regression above was fitted with.
answer_2 = 1.0
