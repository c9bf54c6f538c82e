# Exercise 2: example 25 of the plane. Its error is ordinary, but it sits alone, far from the
# other inputs (v = 0.489): removing it moves its fit by v / (1 − v) ≈ 96% of its error. The
# outlier sits at the mean of x (v = 1/n): removing it moves its fit by only 3.4% of its error.
answer_2 = 25
