# Exercise 2: image 95. All three are about equally wrong (P(label) 0.75 to 0.77), but the network
# is most uncertain about image 95: no other 2 in the training set is close to it, so nothing else
# holds its prediction in place. Image 16 looks odd, but it has a close twin labelled 1.
answer_2 = 95
