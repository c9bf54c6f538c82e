# A plausible mistake: the point with the largest error must move most
answer_2 = 15
