# A plausible mistake: the line's outlier must be the most influential observation.
answer_2 = 15
