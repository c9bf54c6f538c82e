# A plausible mistake: "the model is most wrong about A, so A must move most".
answer_2 = "A"
