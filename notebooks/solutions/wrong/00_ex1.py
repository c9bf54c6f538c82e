# A plausible mistake: the first-order form −Δw v_i e_i has the same size for Δw = −1 and +1.
answer_1 = "same"
