# A plausible mistake: distrusting a correction by a factor of four
answer_2 = "first order"
