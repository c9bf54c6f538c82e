# Exercise 2: B. A's label is the one the model is surest is wrong, so its probability sits on the
# flat tail of the sigmoid: Λ = p(1 − p) is nearly 0 and removing A barely moves p (Δp ≈ Λ Δf).
# B's wrong label was absorbed by the model; without B the model changes its mind about it.
answer_2 = "B"
