# A plausible mistake: the most misclassified point must matter most
answer_1 = 29
