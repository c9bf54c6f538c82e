# A plausible mistake: the image that looks strangest must be the one the network depends on most
answer_2 = 16
