# A plausible mistake: the image the network is most sure about, as if confidence meant dependence.
answer_2 = "ABCD"[int(np.argmax(p_true[candidates]))]
