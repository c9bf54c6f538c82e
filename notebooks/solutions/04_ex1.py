# Exercise 1: example 2. It is neither the most wrong point (29) nor the most uncertain one (38),
# but it is high in both: |e_i| = 0.439 (correct by a narrow margin) and v_i = 0.533 (the far tip
# of its moon). Removal moves a prediction by about v_i e_i / (1 − Λ_i v_i): it takes both factors.
answer_1 = 2
