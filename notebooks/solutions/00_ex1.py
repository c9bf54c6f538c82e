# Removal (Δw = −1) divides v_i e_i by 1 − Λ_i v_i, duplication (Δw = +1) by 1 + Λ_i v_i:
# removal moves the fitted value more. Each extra copy of an example matters a little less
# than the one before.
answer_1 = "less"
